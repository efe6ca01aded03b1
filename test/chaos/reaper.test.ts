/**
 * The reaper under faults, and every one of its timeout paths on the real stack (issue "Nothing
 * lost, nothing starved" part 4, issue "Tests that catch the regressions they claim to" 18.1,
 * 18.4, 18.5): a reaper that crashes part-way leaves every pilot/job pair either untouched or
 * fully handled, never half; the cap slot comes back exactly once on every terminal path.
 *
 * The schedule is off (P3S_REAPER_INTERVAL 3600): each test runs the reaper itself, with a
 * clock moved forward, so the timeouts are exact and no wait is needed.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { dynamo } from '../../shared/db/client.ts';
import { reap } from '../../shared/db/reaper.ts';
import { Tables } from '../helpers/chaos.ts';
import { SimPilot } from '../helpers/pilot-sim.ts';
import { startTestStack, type TestStack, waitFor } from '../helpers/stack.ts';

const HB = 30;
const GRACE = 4;
const LIMIT_GRACE = 3;
const LONGPOLL = 2;
let s: TestStack;
let t: Tables;
/** Throws instead of sending the n-th transaction on the jobs table from now (1 = the next one). */
let failTransaction = 0;
/** Runs once just before the next transaction on the jobs table is sent. */
let beforeTransaction: (() => Promise<unknown>) | undefined;

before(async () => {
  s = await startTestStack({
    P3S_REAPER_INTERVAL: '3600',
    P3S_HEARTBEAT_TIMEOUT: String(HB),
    P3S_DISPATCH_GRACE: String(GRACE),
    P3S_TIMELIMIT_GRACE: String(LIMIT_GRACE),
    P3S_LONGPOLL_MAX: String(LONGPOLL),
  });
  t = new Tables(s.dynamoEndpoint, s.tablePrefix);
  const jobsTable = `${s.tablePrefix}-jobs`;
  dynamo().middlewareStack.add(
    (next, context) => async (args) => {
      const items = (args.input as { TransactItems?: Record<string, { TableName?: string }>[] })
        .TransactItems;
      const onJobs =
        context.commandName === 'TransactWriteItemsCommand' &&
        (items ?? []).some((it) => Object.values(it).some((op) => op.TableName === jobsTable));
      if (onJobs && beforeTransaction) {
        const hook = beforeTransaction;
        beforeTransaction = undefined;
        await hook();
      }
      if (onJobs && failTransaction > 0 && --failTransaction === 0)
        throw new Error('injected: the reaper crashed here');
      return next(args);
    },
    { step: 'initialize', name: 'chaosFailTransaction' },
  );
  // The service clock starts long ago, so the clocks the tests move forward never look like a gap.
  await reap(Date.now() - 3_600_000);
});
after(async () => {
  dynamo().middlewareStack.remove('chaosFailTransaction');
  await s.close();
});
beforeEach(async () => {
  // Every test starts from a clean slate: no live pilot left by the one before.
  failTransaction = 0;
  beforeTransaction = undefined;
  await reap(Date.now() + 3_600_000);
});

const at = (sec: number) => Date.now() + sec * 1000;

async function submit(jobs: unknown[]): Promise<string[]> {
  const r = await s.call('POST', '/jobs', { body: jobs });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.map((j: { id: string }) => j.id);
}

/** A pilot with a job of `type`: `running` (jobstart sent) or just `dispatched`. */
async function pilotWith(type: string, state: 'running' | 'dispatched', more: Record<string, unknown> = {}) {
  const [id] = await submit([{ name: `${type}-${state}`, jobtype: type, payload: 'true', ...more }]);
  const p = new SimPilot(s);
  await p.register();
  const r = await p.poll(0);
  assert.equal(r.body.job?.id, id);
  if (state === 'running') assert.equal((await p.report({ event: 'jobstart', jobId: id })).status, 200);
  return { p, id: id! };
}

const job = (id: string) => t.get('jobs', { id });
const pilotState = async (p: SimPilot) => (await t.get('pilots', { id: p.id }))?.state;

describe('the reaper', () => {
  test('a crash between its steps leaves every pilot and job either untouched or fully handled', async () => {
    const pairs = [
      await pilotWith('crash', 'running'),
      await pilotWith('crash', 'dispatched'),
      await pilotWith('crash', 'running'),
      await pilotWith('crash', 'dispatched'),
    ];
    assert.equal((await t.get('jobtypes', { name: 'crash' })).inFlight, 4);
    // Every pilot goes silent; the reaper crashes on its third transaction.
    failTransaction = 3;
    await assert.rejects(reap(at(HB + LONGPOLL + GRACE + 5)), /injected/);
    let handled = 0;
    for (const { p, id } of pairs) {
      const [ps, j] = [await pilotState(p), await job(id)];
      const untouched =
        ps !== 'timeout' && (j.state === 'running' || j.state === 'dispatched') && j.pilotId === p.id;
      const done =
        ps === 'timeout' && (j.state === 'pilotTO' || (j.state === 'defined' && j.requeuedFrom === p.id));
      assert.ok(untouched !== done, `pilot ${ps}, job ${j.state}: half done`);
      if (done) handled++;
    }
    assert.equal(handled, 2, 'two steps done before the crash, none half');
    assert.deepEqual(await t.counterDrift(), {}, 'the cap slots match the jobs in flight');

    // The next run finishes the work; what was done is not done again.
    await reap(at(HB + LONGPOLL + GRACE + 5));
    const states = await Promise.all(pairs.map(async ({ id }) => (await job(id)).state));
    assert.deepEqual(states, ['pilotTO', 'defined', 'pilotTO', 'defined']);
    for (const { p } of pairs) assert.equal(await pilotState(p), 'timeout');
    assert.equal((await t.get('jobtypes', { name: 'crash' })).inFlight, 0);
    assert.deepEqual(await t.counterDrift(), {});
    for (const { id } of pairs) await s.call('POST', `/jobs/${id}/kill`); // leave nothing queued
  });

  test('a pilot heard from after the reaper read it silent is not timed out', async () => {
    const { p, id } = await pilotWith('race', 'running');
    // The reaper reads the pilot silent; a heartbeat lands just before its transaction.
    beforeTransaction = () => p.report({ event: 'heartbeat', jobId: id });
    const rep = await reap(at(HB + 1));
    assert.equal(beforeTransaction, undefined, 'the reaper did try to end it');
    assert.equal(rep.pilotsTimedOut, 0);
    assert.equal((await job(id)).state, 'running');
    assert.equal(await pilotState(p), 'running');
    assert.equal((await p.report({ event: 'jobstop', jobId: id, exitCode: 0 })).status, 200);
    assert.equal((await t.get('jobtypes', { name: 'race' })).inFlight, 0);
  });

  test('dispatched but never started: back in the queue after P3S_DISPATCH_GRACE, the pilot ended', async () => {
    const { p, id } = await pilotWith('never', 'dispatched');
    assert.equal((await reap(at(GRACE - 1))).jobsRequeued, 0, 'not before the grace');
    assert.equal((await job(id)).state, 'dispatched');
    const rep = await reap(at(GRACE + 1));
    assert.equal(rep.jobsRequeued, 1);
    const j = await job(id);
    assert.equal(j.state, 'defined');
    assert.equal(j.requeuedFrom, p.id);
    assert.equal(j.pilotId, undefined);
    assert.equal(await pilotState(p), 'timeout');
    assert.equal((await t.get('jobtypes', { name: 'never' })).inFlight, 0);
    await s.call('POST', `/jobs/${id}/kill`);
  });

  test('running past its time limit + P3S_TIMELIMIT_GRACE: timelimit by the server, the pilot told to kill it', async () => {
    const { p, id } = await pilotWith('limit', 'running', { timelimit: 2 });
    // Keeps heart-beating: only the time limit is past, not the heartbeat.
    assert.equal((await reap(at(2 + LIMIT_GRACE - 1))).jobsTimelimit, 0, 'not before the grace');
    await p.report({ event: 'heartbeat', jobId: id });
    const rep = await reap(at(2 + LIMIT_GRACE + 1));
    assert.equal(rep.jobsTimelimit, 1);
    const j = await job(id);
    assert.equal(j.state, 'timelimit');
    assert.match(j.message, /ended by the server/);
    assert.equal((await t.get('jobtypes', { name: 'limit' })).inFlight, 0);
    const beat = await p.report({ event: 'heartbeat', jobId: id });
    assert.equal(beat.body.action, 'killjob');
    // Its late report changes nothing and gives no slot back twice.
    assert.equal((await p.report({ event: 'killed', jobId: id, signal: 'SIGTERM' })).status, 200);
    assert.equal((await job(id)).state, 'timelimit');
    assert.equal((await t.get('jobtypes', { name: 'limit' })).inFlight, 0);
  });

  test("queued past its type's deadline: stale, and no slot is touched", async () => {
    assert.equal((await s.call('PUT', '/jobtypes/late', { body: { deadline: 5 } })).status, 200);
    const [id] = await submit([{ name: 'late', jobtype: 'late', payload: 'true' }]);
    assert.equal((await reap(at(4))).jobsStale, 0, 'not before the deadline');
    const rep = await reap(at(6));
    assert.equal(rep.jobsStale, 1);
    const j = await job(id!);
    assert.equal(j.state, 'stale');
    assert.match(j.message, /5 s deadline/);
    assert.equal((await t.get('jobtypes', { name: 'late' })).inFlight ?? 0, 0);
  });

  test('heartbeat lost: the pilot is timeout and its running job pilotTO, within the bound', async () => {
    const { p, id } = await pilotWith('silent', 'running');
    const seen = Date.parse((await t.get('pilots', { id: p.id })).lastSeenAt);
    // The promise: detected once P3S_HEARTBEAT_TIMEOUT passed, never before.
    assert.equal((await reap(seen + (HB - 0.5) * 1000)).pilotsTimedOut, 0);
    assert.equal((await reap(seen + (HB + 0.5) * 1000)).pilotsTimedOut, 1);
    assert.equal((await job(id)).state, 'pilotTO');
    assert.equal((await t.get('jobtypes', { name: 'silent' })).inFlight, 0);
  });
});

describe('the cap slot comes back exactly once on every terminal path', () => {
  const slots = async () => Number((await t.get('jobtypes', { name: 'slot' }))?.inFlight ?? 0);

  test('finished, with the report repeated', async () => {
    const { p, id } = await pilotWith('slot', 'running');
    assert.equal(await slots(), 1);
    for (let i = 0; i < 3; i++)
      assert.equal((await p.report({ event: 'jobstop', jobId: id, exitCode: 0 })).status, 200);
    assert.equal(await slots(), 0);
    assert.equal((await job(id)).state, 'finished');
  });

  test('failed, nonstarter, timelimit by the pilot, killed by the pilot', async () => {
    for (const [event, extra, want] of [
      ['jobstop', { exitCode: 3 }, 'failed'],
      ['nonstarter', { message: 'no such file' }, 'nonstarter'],
      ['timelimit', { signal: 'SIGTERM' }, 'timelimit'],
      ['killed', { signal: 'SIGTERM' }, 'killed'],
    ] as const) {
      const { p, id } = await pilotWith('slot', 'running');
      assert.equal(await slots(), 1);
      assert.equal((await p.report({ event, jobId: id, ...extra })).status, 200);
      assert.equal((await p.report({ event, jobId: id, ...extra })).status, 200);
      assert.equal((await job(id)).state, want);
      assert.equal(await slots(), 0, `after ${want}`);
    }
  });

  test('killed by an operator: a dispatched job at once, a running one through its pilot', async () => {
    const d = await pilotWith('slot', 'dispatched');
    assert.equal((await s.call('POST', `/jobs/${d.id}/kill`)).status, 200);
    assert.equal((await job(d.id)).state, 'killed');
    assert.equal(await slots(), 0);
    assert.equal(await pilotState(d.p), 'active', 'the pilot of a dispatched job is freed');

    const r = await pilotWith('slot', 'running');
    assert.equal((await s.call('POST', `/jobs/${r.id}/kill`)).status, 200);
    assert.equal(await slots(), 1, 'still running until its pilot kills it');
    const beat = await r.p.report({ event: 'heartbeat', jobId: r.id });
    assert.equal(beat.body.action, 'killjob');
    await r.p.report({ event: 'killed', jobId: r.id, signal: 'SIGTERM' });
    assert.equal((await job(r.id)).state, 'killed');
    assert.equal(await slots(), 0);
  });

  test('ended by the reaper (pilotTO, back to the queue) and then reported late by the pilot', async () => {
    const a = await pilotWith('slot', 'running');
    const b = await pilotWith('slot', 'dispatched');
    assert.equal(await slots(), 2);
    await reap(at(HB + LONGPOLL + GRACE + 5));
    assert.equal((await job(a.id)).state, 'pilotTO');
    assert.equal((await job(b.id)).state, 'defined');
    assert.equal(await slots(), 0);
    // The pilots were ended: their late reports are refused and give nothing back again.
    assert.equal((await a.p.report({ event: 'jobstop', jobId: a.id, exitCode: 0 })).status, 409);
    assert.equal((await b.p.report({ event: 'jobstart', jobId: b.id })).status, 409);
    assert.equal(await slots(), 0);
    assert.deepEqual(await t.counterDrift(), {});
    await s.call('POST', `/jobs/${b.id}/kill`);
    await waitFor(async () => (await job(b.id)).state === 'killed');
  });
});
