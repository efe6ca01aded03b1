import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { deltasOf } from '../../shared/core/stats/job-events.ts';
import { workflowToAdvance } from '../../shared/core/workflow/workflow.ts';
import { StatsDelta } from '../../shared/db/stats.ts';
import { advanceWorkflow } from '../../shared/db/workflow-runner.ts';
import { log } from '../../shared/log.ts';
import { failAll, toChange } from '../../shared/streams/records.ts';

/**
 * Keeps counters and per-minute aggregates (summary, dashboard) from the jobs, pilots and
 * workflows streams, so no read path ever scans the jobs table. Deltas of a batch are summed and
 * written once per item. It is also the workflow advancer (a stream has at most two consumers,
 * and the matchmaker is the other): each workflow whose job started or ended in the batch gets
 * one advance step. Advancing is idempotent, so it runs before the counters are written: a
 * failure of either retries the batch, and the counter writes of a retried batch are
 * idempotent (StatsDelta.flush with the batch's identity), so nothing counts twice.
 */
export const handler = async (event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> => {
  const delta = new StatsDelta();
  const workflows = new Set<string>();
  for (const r of event.Records ?? []) {
    const c = toChange(r);
    if (c.entity !== 'jobs' && c.entity !== 'pilots' && c.entity !== 'workflows') continue;
    for (const d of deltasOf({ entity: c.entity, old: c.old, new: c.new }))
      delta.add(d.pk, d.sk, d.attr, d.n, d.ttlDays);
    const wf = c.entity === 'jobs' ? workflowToAdvance(c.old, c.new) : undefined;
    if (wf) workflows.add(wf);
  }
  try {
    for (const id of workflows) await advanceWorkflow(id);
  } catch (err) {
    log.error('job-events: workflow advance failed', { err: String(err) });
    return failAll(event);
  }
  try {
    // The batch's identity makes a retried batch's counter writes idempotent (StatsDelta.flush).
    const recs = event.Records ?? [];
    const batchId = recs.length
      ? `${recs[0]!.eventSourceARN}#${recs[0]!.dynamodb?.SequenceNumber}#${recs[recs.length - 1]!.dynamodb?.SequenceNumber}#${recs.length}`
      : undefined;
    await delta.flush(batchId);
    return { batchItemFailures: [] };
  } catch (err) {
    log.error('job-events: stats update failed', { err: String(err) });
    return failAll(event);
  }
};
