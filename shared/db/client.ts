import { AsyncLocalStorage } from 'node:async_hooks';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { config } from '../config.ts';

let raw: DynamoDBClient | undefined;
let doc: DynamoDBDocumentClient | undefined;

/** The one low-level client of this container (module scope, created on first use). */
export function dynamo(): DynamoDBClient {
  if (!raw) {
    const c = config();
    raw = new DynamoDBClient({
      region: c.AWS_REGION,
      ...(c.P3S_DYNAMODB_ENDPOINT
        ? {
            endpoint: c.P3S_DYNAMODB_ENDPOINT,
            // DynamoDB Local ignores the secret but partitions data by key id unless -sharedDb.
            credentials: { accessKeyId: 'p3slocal', secretAccessKey: 'p3slocal' },
            // One process serves every function locally: 2,000 pilots' requests share this
            // client, and the SDK's default pool of 50 sockets queued them into timeouts.
            requestHandler: { httpAgent: { keepAlive: true, maxSockets: 512 } },
          }
        : {}),
      maxAttempts: 3,
    });
  }
  return raw;
}

/** The document client every repository uses. */
export function db(): DynamoDBDocumentClient {
  doc ??= DynamoDBDocumentClient.from(dynamo(), {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
  });
  return doc;
}

const quiet = new AsyncLocalStorage<true>();

/**
 * Runs writes whose stream records no consumer needs promptly (they change no state a filter
 * looks at: an idle pilot's repeated poll, a heartbeat). On AWS it changes nothing; the local
 * stack, which reads a table's stream at once after each write of its functions, leaves these
 * to its idle read (≈ 250 ms) — 2,000 idle pilots do not keep the stream readers spinning.
 */
export function quietly<T>(write: () => Promise<T>): Promise<T> {
  return quiet.run(true, write);
}

/** Whether the current write was made `quietly` (the local stack's stream kick asks). */
export function isQuiet(): boolean {
  return quiet.getStore() === true;
}
