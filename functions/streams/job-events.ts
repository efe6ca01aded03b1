import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { deltasOf } from '../../shared/core/stats/job-events.ts';
import { StatsDelta } from '../../shared/db/stats.ts';
import { log } from '../../shared/log.ts';
import { failAll, toChange } from '../../shared/streams/records.ts';

/**
 * Keeps counters and per-minute aggregates (summary, dashboard) from the jobs and pilots streams,
 * so no read path ever scans the jobs table. Deltas of a batch are summed and written once per item.
 */
export const handler = async (event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> => {
  const delta = new StatsDelta();
  for (const r of event.Records ?? []) {
    const c = toChange(r);
    if (c.entity !== 'jobs' && c.entity !== 'pilots' && c.entity !== 'workflows') continue;
    for (const d of deltasOf({ entity: c.entity, old: c.old, new: c.new }))
      delta.add(d.pk, d.sk, d.attr, d.n, d.ttlDays);
  }
  try {
    await delta.flush();
    return { batchItemFailures: [] };
  } catch (err) {
    log.error('job-events: stats update failed', { err: String(err) });
    return failAll(event);
  }
};
