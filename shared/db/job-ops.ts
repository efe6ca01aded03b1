import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { tableName } from '../config.ts';
import { ConflictError, NotFoundError } from '../core/errors.ts';
import { isTerminal, type Job, type JobState } from '../core/job/job.ts';
import { db } from './client.ts';
import { isConditionFailed } from './conditions.ts';
import { endJob } from './dispatch.ts';
import { toJob } from './items.ts';
import { getJobItem } from './jobs.ts';
import { requestJobKill } from './pilots.ts';

/**
 * Kills a job. Queued, held, template and dispatched jobs end `killed` at once (a dispatched
 * job's pilot is freed and told to kill it if it starts it anyway). A running job is marked
 * `killRequested`: its pilot kills the payload's process group at its next heartbeat and reports
 * `killed`.
 */
export async function killJob(id: string, reason = 'killed by an operator'): Promise<Job> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const j = await getJobItem(id);
    if (!j) throw new NotFoundError('job', id);
    const state = j.state as JobState;
    if (isTerminal(state)) throw new ConflictError(`job ${id} has already ended (${state})`);
    if (state === 'running') {
      try {
        const r = await db().send(
          new UpdateCommand({
            TableName: tableName('jobs'),
            Key: { id },
            UpdateExpression: 'SET killRequested = :t',
            ConditionExpression: '#s = :running',
            ExpressionAttributeNames: { '#s': 'state' },
            ExpressionAttributeValues: { ':t': true, ':running': 'running' },
            ReturnValues: 'ALL_NEW',
          }),
        );
        await requestJobKill(String(j.pilotId), id);
        return toJob(r.Attributes!);
      } catch (err) {
        if (!isConditionFailed(err)) throw err;
        continue;
      }
    }
    const pilotId = state === 'dispatched' ? (j.pilotId as string) : undefined;
    const ok = await endJob(j as never, 'killed', {
      pilotId,
      pilot: pilotId ? 'free' : undefined,
      info: { message: reason },
    });
    if (ok) return toJob((await getJobItem(id))!);
  }
  throw new ConflictError(`job ${id} kept changing state; try again`);
}
