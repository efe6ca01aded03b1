import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { tableName } from '../../shared/config.ts';
import { db } from '../../shared/db/client.ts';
import { inFlightCounters, recountInFlight } from '../../shared/db/jobtypes.ts';
import { jobEventsTap, pauseSweeper, resumeSweeper } from '../helpers/faults.ts';
import { SimPilot } from '../helpers/pilot-sim.ts';
import { type PilotProcess, startPilot } from '../helpers/pilots.ts';
import { startTestStack, type TestStack, waitFor } from '../helpers/stack.ts';

/**
 * Counters that drifted from the tables (issue 12, part 4). A job type's `inFlight` set too high
 * starves a capped type for ever; the sweeper recounts it from the jobs in flight — never while
 * a claim or an end races the recount — and the type runs again, never above its cap. The live
 * stats counters are corrected once a difference has settled. Real pilots; asserted from the
 * tables and the jobs stream.
 */
let s: TestStack;
let pilots: PilotProcess[] = [];
const dir = mkdtempSync(join(tmpdir(), 'p3s-chaos-drift-'));
const SETTLE_S = 2;

before(async () => {
  s = await startTestStack({
    P3S_REAPER_INTERVAL: '0.5',
    P3S_SWEEP_INTERVAL: '1',
    P3S_INDEX_LAG_MS: '20',
    P3S_COUNTER_SETTLE: String(SETTLE_S),
  });
  const joblog = mkdtempSync(join(tmpdir(), 'p3s-chaos-joblog-'));
  pilots = Array.from({ length: 3 }, () => startPilot(s.url, s.pilotToken, [], {}, joblog));
});
after(async () => {
  await Promise.all(pilots.map((p) => p.stop('SIGKILL')));
  await s.close();
});
afterEach(async () => {
  slowReaperMs = 0;
  await resumeSweeper();
});

/** Fault injection: each DynamoDB request of the reaper's own steps first waits this long. */
let slowReaperMs = 0;
let slowedRequests = 0;
before(() => {
  db().middlewareStack.add(
    (next) => async (args) => {
      if (slowReaperMs) {
        const limit = Error.stackTraceLimit;
        Error.stackTraceLimit = 60;
        const stack = new Error().stack ?? '';
        Error.stackTraceLimit = limit;
        if (/\breap \(/.test(stack) && !stack.includes('sweeper.ts')) {
          slowedRequests++;
          await new Promise((r) => setTimeout(r, slowReaperMs));
        }
      }
      return next(args);
    },
    { step: 'initialize', name: 'p3sTestSlowReaper' },
  );
});

const jobtype = async (name: string) =>
  (await db().send(new GetCommand({ TableName: tableName('jobtypes'), Key: { name }, ConsistentRead: true })))
    .Item;
const setInFlight = (name: string, n: number) =>
  db().send(
    new UpdateCommand({
      TableName: tableName('jobtypes'),
      Key: { name },
      UpdateExpression: 'SET inFlight = :n',
      ExpressionAttributeValues: { ':n': n },
    }),
  );
const jobState = async (id: string) => (await s.call('GET', `/jobs/${id}`)).body.state as string;

async function submit(jobs: unknown[]): Promise<string[]> {
  const r = await s.call('POST', '/jobs', { body: jobs });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return (r.body as { id: string }[]).map((j) => j.id);
}

describe('drifted counters', () => {
  test('an inFlight that drifted up starves a capped type until the sweep recounts it; then it runs, never above its cap', async () => {
    const LIMIT = 2;
    const runs = join(dir, 'capped.runs');
    writeFileSync(runs, '');
    const tap = jobEventsTap(s);
    try {
      await pauseSweeper();
      assert.equal((await s.call('PUT', '/jobtypes/capped', { body: { limit: LIMIT } })).status, 200);
      await setInFlight('capped', LIMIT); // nothing of the type is in flight
      const capped = await submit(
        Array.from({ length: 6 }, (_, i) => ({
          name: `capped${i}`,
          jobtype: 'capped',
          payload: 'echo $P3S_JOB_UUID >> $RUNS; sleep 0.3',
          env: { P3S_EXECMODE: 'SHELL', RUNS: runs },
        })),
      );
      // Pilots are polling: an uncapped job submitted after the capped ones runs, they do not.
      const [free] = await submit([{ name: 'free', jobtype: 'free', payload: '/bin/true' }]);
      await waitFor(async () => (await jobState(free!)) === 'finished', {
        timeoutMs: 30_000,
        what: 'the uncapped job to run',
      });
      for (const id of capped) assert.equal(await jobState(id), 'defined', 'starved by the drifted counter');

      await resumeSweeper();
      const resumedAt = Date.now();
      await waitFor(async () => (await Promise.all(capped.map(jobState))).some((st) => st !== 'defined'), {
        timeoutMs: 10_000,
        what: 'a capped job to be dispatched',
      });
      const firstMs = Date.now() - resumedAt;
      await waitFor(async () => (await Promise.all(capped.map(jobState))).every((st) => st === 'finished'), {
        timeoutMs: 60_000,
        intervalMs: 100,
        what: 'every capped job to finish',
      });
      process.stdout.write(
        `# drifted inFlight: first capped job dispatched ${firstMs} ms, all ${capped.length} finished ${Date.now() - resumedAt} ms after the sweeper resumed\n`,
      );

      assert.equal((await jobtype('capped'))?.inFlight, 0, 'every slot returned');
      assert.deepEqual(
        readFileSync(runs, 'utf8').split('\n').filter(Boolean).sort(),
        [...capped].sort(),
        'each capped job ran once',
      );
      // From the jobs stream, in order: how many capped jobs were in flight at once, and how
      // often each was dispatched.
      await waitFor(
        () =>
          capped.every((id) => tap.records().some((r) => r.new?.id === id && r.new?.state === 'finished')),
        { what: 'the stream to deliver every end' },
      );
      const inFlight = (img?: Record<string, unknown>) =>
        img?.jobtype === 'capped' && (img.state === 'dispatched' || img.state === 'running') ? 1 : 0;
      let now = 0;
      let peak = 0;
      const dispatches = new Map<string, number>();
      for (const r of tap.records()) {
        now += inFlight(r.new) - inFlight(r.old);
        peak = Math.max(peak, now);
        if (r.new?.jobtype === 'capped' && r.new.state === 'dispatched' && r.old?.state === 'defined')
          dispatches.set(String(r.new.id), (dispatches.get(String(r.new.id)) ?? 0) + 1);
      }
      assert.ok(peak <= LIMIT, `at most ${LIMIT} in flight at once (saw ${peak})`);
      assert.equal(peak, LIMIT, 'three pilots filled the cap');
      assert.deepEqual(
        capped.map((id) => dispatches.get(id)),
        capped.map(() => 1),
      );
    } finally {
      tap.restore();
    }
  });

  test('a recount that raced a claim and an end changes nothing', async () => {
    assert.equal((await s.call('PUT', '/jobtypes/guard', { body: { limit: 5 } })).status, 200);
    // A site only this simulated pilot serves: the real pilots leave its jobs alone.
    const p = new SimPilot(s, { site: 'guardsite' });
    assert.equal((await p.register()).status, 201);
    /** One job of the type claimed, started and ended; `during` runs while it is in flight. */
    const cycle = async (during: () => Promise<void> = async () => {}) => {
      const [id] = await submit([{ name: 'g', jobtype: 'guard', payload: '/bin/true', site: 'guardsite' }]);
      const polled = await waitFor(
        async () => {
          const r = await p.poll();
          return r.body.state === 'dispatched' && r.body;
        },
        { what: 'the simulated pilot to get the job' },
      );
      assert.equal(polled.job.id, id);
      await during();
      assert.equal((await p.report({ event: 'jobstart', jobId: id })).status, 200);
      assert.equal((await p.report({ event: 'jobstop', jobId: id, exitCode: 0 })).status, 200);
    };
    await cycle(); // the type has an op count now
    // The sweeper's first reading; then a claim and an end happen before it writes, and its
    // index read falls in between (it counts the job in flight).
    const seen = (await inFlightCounters()).find((t) => t.name === 'guard')!;
    assert.equal(seen.inFlight, 0);
    assert.equal(typeof seen.inFlightOps, 'number');
    let countWhileInFlight = 0;
    await cycle(async () => {
      countWhileInFlight = (await jobtype('guard'))?.inFlight;
    });
    assert.equal(countWhileInFlight, 1);
    assert.equal((await jobtype('guard'))?.inFlight, 0, 'the same value as the reading');

    assert.equal(await recountInFlight(seen, countWhileInFlight), false, 'the op counter moved');
    assert.equal((await jobtype('guard'))?.inFlight, 0, 'unchanged');
    await p.report({ event: 'stopped' });
  });

  test('a drifted live stats counter is corrected once the difference has settled, however slow the reaper', async () => {
    const set = (sk: string, n: number) =>
      db().send(
        new UpdateCommand({
          TableName: tableName('stats'),
          Key: { pk: 'count', sk },
          UpdateExpression: 'SET n = :n',
          ExpressionAttributeValues: { ':n': n },
        }),
      );
    const seenBySweep = async () =>
      (
        await db().send(
          new GetCommand({
            TableName: tableName('stats'),
            Key: { pk: 'sweep', sk: 'state' },
            ConsistentRead: true,
          }),
        )
      ).Item?.diffs?.['jobtype#ghost#defined'];
    // A loaded machine: the reaper run that first sees the difference is slow before it sweeps
    // (each request of its own steps waits), the next ones are quick. The counters change while
    // that run is under way, so it started before the change. A sweep that timed the difference
    // from the start of its run would find it older than it is and correct it early (CI saw it
    // corrected 0.7 s into a 2 s settle).
    slowReaperMs = 300;
    const slowedBefore = slowedRequests;
    await waitFor(() => slowedRequests > slowedBefore, { what: 'a slow reaper run under way' });
    // A type with no job at all, and the global running count. The clock starts before the
    // writes: no sweep can have seen the difference earlier.
    const changedAt = Date.now();
    await set('jobtype#ghost#defined', 42);
    await set('jobs#running', 7);
    await waitFor(seenBySweep, { timeoutMs: 20_000, what: 'a sweep to see the difference' });
    slowReaperMs = 0;
    await waitFor(
      async () => {
        const b = (await s.call('GET', '/summary')).body;
        const running = (await s.call('GET', '/jobs?state=running&limit=500')).body.jobs.length;
        const ghost = b.jobtypes.find((t: { name: string }) => t.name === 'ghost');
        return ghost?.queued === 0 && (b.jobs.running ?? 0) === running;
      },
      { timeoutMs: 20_000, intervalMs: 100, what: 'the counters to be corrected' },
    );
    const tookMs = Date.now() - changedAt;
    process.stdout.write(
      `# drifted stats counters: corrected ${tookMs} ms after the change (settle ${SETTLE_S} s)\n`,
    );
    assert.ok(tookMs >= SETTLE_S * 1000, `not before the difference had settled (${tookMs} ms)`);
  });
});
