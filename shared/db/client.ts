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
