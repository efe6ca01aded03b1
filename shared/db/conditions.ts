import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';

/** True when a single conditional write lost. */
export function isConditionFailed(err: unknown): boolean {
  return (
    err instanceof ConditionalCheckFailedException ||
    (err as { name?: string })?.name === 'ConditionalCheckFailedException'
  );
}

/**
 * For a cancelled transaction, the index of each item whose condition failed.
 * Returns undefined when the error is not a cancelled transaction (then it is rethrown by callers).
 */
export function failedTransactionItems(err: unknown): number[] | undefined {
  const e = err as TransactionCanceledException;
  if (!(err instanceof TransactionCanceledException) && e?.name !== 'TransactionCanceledException')
    return undefined;
  const reasons = e.CancellationReasons ?? [];
  const failed: number[] = [];
  reasons.forEach((r, i) => {
    if (r?.Code && r.Code !== 'None') failed.push(i);
  });
  // A transaction conflict (another transaction touching the same item) has Code TransactionConflict.
  return failed;
}

/** Cancellation codes per item, for deciding between "lost a race" and "condition false". */
export function cancellationCodes(err: unknown): string[] {
  const e = err as TransactionCanceledException;
  return (e?.CancellationReasons ?? []).map((r) => r?.Code ?? 'None');
}
