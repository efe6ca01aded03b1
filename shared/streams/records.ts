import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';

export interface ImageChange {
  /** Entity from the table name suffix (`…-jobs` → `jobs`). */
  entity: string;
  eventName: 'INSERT' | 'MODIFY' | 'REMOVE';
  old?: Record<string, unknown>;
  new?: Record<string, unknown>;
  sequenceNumber: string;
}

function entityOf(arn: string | undefined): string {
  // arn:aws:dynamodb:region:acct:table/<prefix>-<entity>/stream/<time>
  const table = /table\/([^/]+)/.exec(arn ?? '')?.[1] ?? '';
  return table.slice(table.lastIndexOf('-') + 1);
}

export function toChange(r: DynamoDBRecord): ImageChange {
  const img = (i: unknown) => (i ? unmarshall(i as Record<string, AttributeValue>) : undefined);
  return {
    entity: entityOf(r.eventSourceARN),
    eventName: (r.eventName as ImageChange['eventName']) ?? 'REMOVE',
    old: img(r.dynamodb?.OldImage),
    new: img(r.dynamodb?.NewImage),
    sequenceNumber: r.dynamodb?.SequenceNumber ?? '',
  };
}

/** For batch-level work (one action for the whole batch): all records fail together. */
export function failAll(event: DynamoDBStreamEvent): DynamoDBBatchResponse {
  return {
    batchItemFailures: (event.Records ?? []).map((r) => ({
      itemIdentifier: r.dynamodb?.SequenceNumber ?? '',
    })),
  };
}
