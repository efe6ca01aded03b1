import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { tableName } from '../config.ts';
import { nowIso } from '../core/util/time.ts';
import { db } from './client.ts';
import { isConditionFailed } from './conditions.ts';

/**
 * Stores the output tails a heartbeat carried on the running job (`stdoutTail`, `stderrTail`,
 * `tailAt`), so the monitor shows them while the job runs. Only while the job is still
 * `running` on this pilot: a late heartbeat never overwrites the final report's tails, and a
 * pilot can never write to a job that is not its own. False when nothing was written.
 */
export async function storeLiveTails(
  jobId: string,
  pilotId: string,
  t: { stdoutTail?: string; stderrTail?: string },
): Promise<boolean> {
  const set: string[] = ['tailAt = :now'];
  const values: Record<string, unknown> = { ':now': nowIso(), ':running': 'running', ':p': pilotId };
  if (t.stdoutTail !== undefined) {
    set.push('stdoutTail = :o');
    values[':o'] = t.stdoutTail;
  }
  if (t.stderrTail !== undefined) {
    set.push('stderrTail = :e');
    values[':e'] = t.stderrTail;
  }
  if (set.length === 1) return false;
  try {
    await db().send(
      new UpdateCommand({
        TableName: tableName('jobs'),
        Key: { id: jobId },
        UpdateExpression: `SET ${set.join(', ')}`,
        ConditionExpression: '#s = :running AND pilotId = :p',
        ExpressionAttributeNames: { '#s': 'state' },
        ExpressionAttributeValues: values,
      }),
    );
    return true;
  } catch (err) {
    if (isConditionFailed(err)) return false;
    throw err;
  }
}
