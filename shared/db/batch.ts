/**
 * The batch and pool helpers every repository uses: BatchGetItem in chunks of 100 and
 * BatchWriteItem in chunks of 25 (DynamoDB's limits), each retrying what DynamoDB left
 * unprocessed, and a bounded pool for many independent writes.
 */
import { BatchGetCommand, type BatchGetCommandOutput, BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import { db } from './client.ts';

type Item = Record<string, unknown>;

/**
 * The items of `keys` in `table` (missing ones are absent; order not kept). `consistent` for a
 * strongly consistent read; `attributes` to read only those.
 */
export async function batchGet(
  table: string,
  keys: readonly Item[],
  opts: { consistent?: boolean; attributes?: readonly string[] } = {},
): Promise<Item[]> {
  const out: Item[] = [];
  const names: Record<string, string> = {};
  const projection = opts.attributes
    ?.map((a, i) => {
      names[`#b${i}`] = a;
      return `#b${i}`;
    })
    .join(', ');
  for (let i = 0; i < keys.length; i += 100) {
    let pending: Item[] | undefined = keys.slice(i, i + 100);
    for (let attempt = 0; pending?.length; attempt++) {
      if (attempt > 0) await backoff(attempt);
      const r: BatchGetCommandOutput = await db().send(
        new BatchGetCommand({
          RequestItems: {
            [table]: {
              Keys: pending,
              ConsistentRead: opts.consistent,
              ProjectionExpression: projection,
              ExpressionAttributeNames: projection ? names : undefined,
            },
          },
        }),
      );
      out.push(...((r.Responses?.[table] ?? []) as Item[]));
      pending = r.UnprocessedKeys?.[table]?.Keys as Item[] | undefined;
    }
  }
  return out;
}

/** Puts `items` into `table`, 25 per request, `parallel` requests at a time. */
export async function batchPut(table: string, items: readonly Item[], parallel = 4): Promise<void> {
  const chunks: Item[][] = [];
  for (let i = 0; i < items.length; i += 25) chunks.push(items.slice(i, i + 25));
  await forEach(
    chunks,
    async (chunk) => {
      let req: Record<string, { PutRequest: { Item: Item } }[]> | undefined = {
        [table]: chunk.map((Item) => ({ PutRequest: { Item } })),
      };
      for (let attempt = 0; req && Object.keys(req).length; attempt++) {
        if (attempt > 0) await backoff(attempt);
        const r = await db().send(new BatchWriteCommand({ RequestItems: req }));
        req = r.UnprocessedItems as typeof req;
      }
    },
    parallel,
  );
}

/**
 * Runs `fn` over `items`, at most `concurrency` at a time; the first error is thrown after all
 * have settled (so one failure never leaves others half-started).
 */
export async function forEach<T>(
  items: readonly T[],
  fn: (item: T, index: number) => Promise<unknown>,
  concurrency = 16,
): Promise<void> {
  let next = 0;
  const errors: unknown[] = [];
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      try {
        await fn(items[i]!, i);
      } catch (err) {
        errors.push(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  if (errors.length) throw errors[0];
}

/** Capped exponential back-off before retry number `attempt` of unprocessed items. */
function backoff(attempt: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.min(1000, 20 * 2 ** attempt)));
}
