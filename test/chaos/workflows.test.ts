import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { tableName } from '../../shared/config.ts';
import { db } from '../../shared/db/client.ts';
import { getJobItem } from '../../shared/db/jobs.ts';
import { jobEventsTap, pauseSweeper, resumeSweeper } from '../helpers/faults.ts';
import { type PilotProcess, startPilot } from '../helpers/pilots.ts';
import { startTestStack, type TestStack, waitFor } from '../helpers/stack.ts';

/**
 * Workflows after faults (issue 12, part 4), on the local stack with a real pilot: a `jobEvents`
 * batch dropped after its retries leaves a finished parent's child `template`, and the sweeper
 * releases it (the child runs exactly once); a job deleted from a running workflow counts as
 * cancelled instead of stalling the workflow. Everything is asserted from the tables.
 */
let s: TestStack;
let pilot: PilotProcess;
const fixtures = join(import.meta.dirname, '..', 'fixtures', 'workflows');
const dir = mkdtempSync(join(tmpdir(), 'p3s-chaos-wf-'));

before(async () => {
  s = await startTestStack({
    P3S_REAPER_INTERVAL: '0.5',
    P3S_SWEEP_INTERVAL: '1',
    P3S_INDEX_LAG_MS: '20',
    P3S_COUNTER_SETTLE: '2',
  });
  assert.equal((await s.call('POST', '/datatypes', { body: { name: 'TXT', ext: '.txt' } })).status, 200);
  for (const f of ['chaos-pair.json', 'chaos-held.json']) {
    const dag = JSON.parse(readFileSync(join(fixtures, f), 'utf8'));
    assert.equal((await s.call('POST', '/dags', { body: { dag } })).status, 201);
  }
  pilot = startPilot(s.url, s.pilotToken, [], {}, mkdtempSync(join(tmpdir(), 'p3s-chaos-joblog-')));
});
after(async () => {
  await pilot?.stop('SIGKILL');
  await s.close();
});
afterEach(async () => {
  await resumeSweeper();
});

interface Detail {
  id: string;
  state: string;
  jobs: { vertex: string; id: string; state: string }[];
}

async function createWorkflow(dag: string, vertices: string[], runs: string): Promise<Detail> {
  const jobinfo = Object.fromEntries(vertices.map((v) => [v, { env: { RUNS: runs } }]));
  const r = await s.call('POST', '/workflows', { body: { dag, state: 'defined', jobinfo } });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body as Detail;
}

const jobOf = (w: Detail, vertex: string) => w.jobs.find((j) => j.vertex === vertex)!.id;
const workflowItem = async (id: string) =>
  (await db().send(new GetCommand({ TableName: tableName('workflows'), Key: { id }, ConsistentRead: true })))
    .Item!;
/** Every job item of the workflow (its keys from the byWorkflow index, then the items): no job was made twice. */
const jobsOfWorkflow = async (id: string) => {
  const keys =
    (
      await db().send(
        new QueryCommand({
          TableName: tableName('jobs'),
          IndexName: 'byWorkflow',
          KeyConditionExpression: 'workflowId = :w',
          ExpressionAttributeValues: { ':w': id },
        }),
      )
    ).Items ?? [];
  return Promise.all(keys.map(async (k) => (await getJobItem(String(k.id)))!));
};
const lines = (f: string) => readFileSync(f, 'utf8').split('\n').filter(Boolean);

describe('workflows repaired by the sweeper', () => {
  test('a dropped jobEvents batch: the sweep releases the second job, which runs exactly once', async () => {
    const runs = join(dir, 'pair.runs');
    writeFileSync(runs, '');
    await pauseSweeper();
    let firstId = '';
    // The batch carrying the first job's end is failed on every attempt, then dropped.
    const tap = jobEventsTap(s, (r) => r.new?.id === firstId && r.new?.state === 'finished');
    try {
      const w = await createWorkflow('chaos-pair', ['first', 'second'], runs);
      firstId = jobOf(w, 'first');
      const second = jobOf(w, 'second');
      await waitFor(() => tap.dropped() > 0, { timeoutMs: 30_000, what: 'the batch to be dropped' });
      const droppedAt = Date.now();
      tap.armed = false;
      assert.equal(tap.failedAttempts, 3, 'one attempt and the two retries of serverless.yml');

      // What the fault left: the parent finished, the child never released, the workflow running.
      assert.equal((await getJobItem(firstId))?.state, 'finished');
      assert.equal((await getJobItem(second))?.state, 'template');
      // (`defined` when the dropped batch also held the first job's start.)
      assert.match(String((await workflowItem(w.id)).state), /^(defined|running)$/);

      await resumeSweeper();
      const resumedAt = Date.now();
      await waitFor(async () => (await getJobItem(second))?.state !== 'template', {
        timeoutMs: 10_000,
        what: 'the sweep to release the second job',
      });
      const releasedMs = Date.now() - resumedAt;
      await waitFor(async () => (await workflowItem(w.id)).state === 'finished', {
        timeoutMs: 30_000,
        what: 'the workflow to finish',
      });
      const finishedMs = Date.now() - resumedAt;
      process.stdout.write(
        `# dropped batch: released ${releasedMs} ms and finished ${finishedMs} ms after the sweeper resumed (dropped ${resumedAt - droppedAt} ms before)\n`,
      );

      const item = await workflowItem(w.id);
      assert.equal(item.ndone, 2);
      assert.equal(item.opk, undefined, 'every job ended: out of the open index');
      assert.deepEqual(lines(runs), [firstId, second], 'each payload ran once, in order');
      const jobs = await jobsOfWorkflow(w.id);
      assert.deepEqual(
        jobs.map((j) => [j.vertex, j.state]).sort(),
        [
          ['first', 'finished'],
          ['second', 'finished'],
        ],
        'no job made twice',
      );
      // The second job was dispatched once: the stream saw exactly one defined → dispatched.
      await waitFor(() => tap.records().some((r) => r.new?.id === second && r.new?.state === 'finished'), {
        what: 'the stream to deliver the second job’s end',
      });
      const dispatches = tap
        .records()
        .filter((r) => r.new?.id === second && r.old?.state === 'defined' && r.new?.state === 'dispatched');
      assert.equal(dispatches.length, 1);

      // The dropped batch also lost counter deltas (how many depends on what the batch held):
      // whatever they left, the live counters end up agreeing with the jobs table.
      const live = (b: { jobs: Record<string, number> }) =>
        (b.jobs.defined ?? 0) + (b.jobs.dispatched ?? 0) + (b.jobs.running ?? 0);
      await waitFor(
        async () => {
          const sum = (await s.call('GET', '/summary')).body;
          const chaos = sum.jobtypes.find((t: { name: string }) => t.name === 'chaos');
          return live(sum) === 0 && chaos?.queued === 0 && chaos?.inFlight === 0;
        },
        { timeoutMs: 15_000, what: 'the live counters to be corrected' },
      );
    } finally {
      tap.restore();
    }
  });

  test('a job deleted from a running workflow counts as cancelled: its descendants are cancelled, the workflow ends', async () => {
    const runs = join(dir, 'held.runs');
    writeFileSync(runs, '');
    // Only the stream can end this workflow while the sweeper is paused.
    await pauseSweeper();
    assert.equal((await s.call('PUT', '/jobtypes/chaosheld', { body: { limit: 0 } })).status, 200);
    const w = await createWorkflow('chaos-held', ['first', 'second', 'third'], runs);
    const [first, second, third] = ['first', 'second', 'third'].map((v) => jobOf(w, v));
    await waitFor(async () => (await getJobItem(second!))?.state === 'defined', {
      timeoutMs: 30_000,
      what: 'the second job queued (its type is capped at 0)',
    });
    const del = await s.call('DELETE', `/jobs/${second}`);
    assert.ok(del.status >= 200 && del.status < 300, JSON.stringify(del.body));
    const deletedAt = Date.now();
    await waitFor(async () => (await workflowItem(w.id)).state === 'cancelled', {
      timeoutMs: 10_000,
      what: 'the workflow to end',
    });
    process.stdout.write(`# deleted job: workflow ended ${Date.now() - deletedAt} ms after the deletion\n`);
    const item = await workflowItem(w.id);
    assert.equal(item.ndone, 3, 'the deleted job counts as ended');
    assert.equal(item.opk, undefined);
    assert.equal((await getJobItem(first!))?.state, 'finished');
    assert.equal(await getJobItem(second!), undefined);
    const t = await getJobItem(third!);
    assert.equal(t?.state, 'cancelled');
    assert.match(String(t?.message), /^cancelled: /);
    assert.deepEqual(lines(runs), [first], 'nothing below the deleted job ran');
  });
});
