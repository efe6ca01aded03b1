import { randomUUID } from 'node:crypto';
import { dynamo } from '../../shared/db/client.ts';

/** One DynamoDB request made by this process: `Get`/`GetItem`-style names are reported as the API's (`GetItem`). */
export interface DynamoCall {
  command: string;
  table: string;
  input: Record<string, any>;
  output: Record<string, any>;
}

const DOC: Record<string, string> = { Get: 'GetItem', Query: 'Query', Scan: 'Scan', Put: 'PutItem' };

/**
 * Calls `on` after every DynamoDB request of this process's shared client — the test stack runs
 * in the test process, so these are the handlers' own requests. Returns a function that stops.
 */
export function watchDynamo(on: (c: DynamoCall) => void): () => void {
  const name = `p3sTestWatch-${randomUUID()}`;
  const client = dynamo();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const out = await next(args);
      const raw = String(context.commandName ?? '').replace(/Command$/, '');
      const input = args.input as DynamoCall['input'];
      on({
        command: DOC[raw] ?? raw,
        table: String(input.TableName ?? ''),
        input,
        output: out.output as DynamoCall['output'],
      });
      return out;
    },
    { step: 'initialize', name },
  );
  return () => {
    client.middlewareStack.remove(name);
  };
}

/** The string value of a key attribute, whether the request was marshalled yet or not. */
export const keyString = (v: unknown): string =>
  typeof v === 'string' ? v : String((v as { S?: string } | undefined)?.S ?? '');
