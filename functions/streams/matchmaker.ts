import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { IN_FLIGHT, type JobState } from '../../shared/core/job/job.ts';
import { matchRound } from '../../shared/db/dispatch.ts';
import { parseJob } from '../../shared/db/jobs.ts';
import { log } from '../../shared/log.ts';
import { failAll, type ImageChange, toChange } from '../../shared/streams/records.ts';

/** Does this change create matching work: a newly queued job, a freed cap slot, a newly idle pilot? */
export function triggersMatch(c: ImageChange): boolean {
  if (c.entity === 'jobs') {
    const queuedNow = Boolean(c.new?.qpk) && !c.old?.qpk;
    const freed = c.old && IN_FLIGHT.has(c.old.state as JobState) && !IN_FLIGHT.has(c.new?.state as JobState);
    return queuedNow || Boolean(freed);
  }
  if (c.entity === 'pilots') return c.new?.state === 'waiting' && c.old?.state !== 'waiting';
  return false;
}

/**
 * The matchmaker: one matching round per stream batch that contains a reason to match. Rounds
 * are idempotent (every pairing is a conditional claim), so duplicate, late or concurrent
 * delivery is harmless; a failed round fails the batch, which is retried a bounded number of times.
 */
export const handler = async (event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> => {
  if (!(event.Records ?? []).some((r) => triggersMatch(toChange(r)))) return { batchItemFailures: [] };
  try {
    const fresh = (event.Records ?? [])
      .map(toChange)
      .filter((ch) => ch.entity === 'jobs' && ch.new?.qpk && !ch.old?.qpk)
      .map((ch) => parseJob(ch.new!));
    const n = await matchRound({ fresh });
    log.debug('matchmaker round', { records: event.Records.length, matched: n });
    return { batchItemFailures: [] };
  } catch (err) {
    log.error('matchmaker round failed', { err: String((err as Error)?.stack ?? err) });
    return failAll(event);
  }
};
