import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { tableName } from '../../shared/config.ts';
import { db } from '../../shared/db/client.ts';
import { startTestStack, type TestStack, waitFor } from '../helpers/stack.ts';

let s: TestStack;
before(async () => {
  // The reaper runs only when the test invokes it.
  s = await startTestStack({ P3S_REAPER_INTERVAL: '3600' });
});
after(async () => {
  await s.close();
});

/** Three ended jobs of `jobtype` that ran 10 s each: the history the run-time estimate reads. */
async function history(jobtype: string) {
  const now = Date.now();
  for (let i = 0; i < 3; i++) {
    const startedAt = new Date(now - 60_000 + i * 1000).toISOString();
    const endedAt = new Date(now - 50_000 + i * 1000).toISOString();
    await db().send(
      new PutCommand({
        TableName: tableName('jobs'),
        Item: {
          id: randomUUID(),
          name: 'past',
          jobtype,
          payload: '/bin/true',
          env: {},
          priority: 0,
          timelimit: 100,
          state: 'finished',
          createdAt: startedAt,
          definedAt: startedAt,
          startedAt,
          endedAt,
          stateAt: endedAt,
        },
      }),
    );
  }
}

const submit = async (jobtype: string, n: number, priority = 0) => {
  const r = await s.call('POST', '/jobs', {
    body: Array.from({ length: n }, (_, i) => ({
      name: `${jobtype}-${i}`,
      jobtype,
      payload: '/bin/true',
      priority,
    })),
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.map((j: { id: string }) => j.id) as string[];
};

const jobsOf = async (jobtype: string) =>
  (await s.call('GET', `/jobs?jobtype=${jobtype}&limit=500`)).body.jobs as {
    id: string;
    state: string;
    message?: string;
  }[];

describe('shedding', () => {
  test('a queue that cannot all start before the deadline loses its lowest-priority, oldest jobs', async () => {
    // Cap 1, 10 s per job → 0.1 jobs/s; deadline 69 s → 1 free slot + 6 more can start in time
    // (as long as the test reaches the reaper within 9 s of submitting).
    assert.equal((await s.call('PUT', '/jobtypes/shed', { body: { limit: 1, deadline: 69 } })).status, 200);
    await history('shed');
    const [important] = await submit('shed', 1, 5);
    const old = await submit('shed', 9);
    await waitFor(
      async () => Date.now() > Date.parse((await s.call('GET', `/jobs/${old[8]}`)).body.definedAt) + 5,
    );
    const fresh = await submit('shed', 10);

    await s.invoke('reaper', {});

    const jobs = await jobsOf('shed');
    const state = new Map(jobs.map((j) => [j.id, j]));
    const dropped = jobs.filter((j) => j.state === 'dropped');
    assert.equal(dropped.length, 13);
    assert.equal(state.get(important!)?.state, 'defined', 'the high-priority job is kept although it is old');
    assert.ok(
      old.every((id) => state.get(id)?.state === 'dropped'),
      'every old low-priority job is dropped',
    );
    assert.equal(fresh.filter((id) => state.get(id)?.state === 'defined').length, 6, 'the 6 newest are kept');
    assert.match(dropped[0]!.message ?? '', /shed: could not start within the 69 s deadline/);

    // The counts show in the summary (kept by the job-events stream consumer).
    let last: unknown;
    const row = await waitFor<{ queued: number }>(
      async () => {
        const t = (await s.call('GET', '/summary')).body.jobtypes.find(
          (x: { name: string }) => x.name === 'shed',
        );
        last = t;
        return t?.dropped === 13 && t;
      },
      { what: 'dropped counted in the summary', timeoutMs: 15_000 },
    ).catch((err) => {
      throw new Error(`${(err as Error).message}; last summary row: ${JSON.stringify(last)}`);
    });
    assert.equal(row.queued, 7, JSON.stringify(last));
    // A second reaper run finds nothing more to drop.
    await s.invoke('reaper', {});
    assert.equal((await jobsOf('shed')).filter((j) => j.state === 'dropped').length, 13);
  });

  test('a type without a run-time history, a cap or a deadline is never shed', async () => {
    assert.equal((await s.call('PUT', '/jobtypes/nohist', { body: { limit: 1, deadline: 60 } })).status, 200);
    assert.equal((await s.call('PUT', '/jobtypes/nocap', { body: { deadline: 60 } })).status, 200);
    await history('nocap');
    await submit('nohist', 20);
    await submit('nocap', 20);
    await s.invoke('reaper', {});
    for (const t of ['nohist', 'nocap'])
      assert.ok(
        (await jobsOf(t)).every((j) => j.state === 'defined'),
        `${t} untouched`,
      );
  });
});
