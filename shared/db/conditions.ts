import { ConditionalCheckFailedException, type TransactionCanceledException } from '@aws-sdk/client-dynamodb';

/** True when a single conditional write lost. */
export function isConditionFailed(err: unknown): boolean {
  return (
    err instanceof ConditionalCheckFailedException ||
    (err as { name?: string })?.name === 'ConditionalCheckFailedException'
  );
}

/** Cancellation codes per item, for deciding between "lost a race" and "condition false". */
export function cancellationCodes(err: unknown): string[] {
  const e = err as TransactionCanceledException;
  return (e?.CancellationReasons ?? []).map((r) => r?.Code ?? 'None');
}
