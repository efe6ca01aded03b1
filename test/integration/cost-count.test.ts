/**
 * Counts the DynamoDB requests and capacity units of one dispatched job and of an idle pilot's
 * poll, from the code's real calls on the local stack (test/helpers/dynamo-counter.ts), per
 * function. docs/cost-model.md is computed from these numbers; the budgets below fail the test
 * when a change makes the hot path dearer, so the document has to be revisited. Polls behave as
 * on Lambda here: no in-process wake-ups, a held poll re-reads its pilot every
 * P3S_LONGPOLL_CHECK_MS. The counts go to test-output/cost-count.json.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { repoRoot } from '../../localstack/runtime/serverless-config.ts';
import { dynamo } from '../../shared/db/client.ts';
import { installWakeups } from '../../shared/wakeups.ts';
import { countDynamo, type DynamoCounter } from '../helpers/dynamo-counter.ts';
import { SimPilot } from '../helpers/pilot-sim.ts';
import { startTestStack, streamsIdle, type TestStack, waitFor } from '../helpers/stack.ts';

const CHECK_MS = 250;
const JOB = { name: 'cost', jobtype: 'cost', payload: 'true' };
let s: TestStack;
let counter: DynamoCounter;
const results: Record<string, Summary> = {};

interface Summary {
  requests: number;
  readUnits: number;
  writeUnits: number;
  byFunction: Record<string, { requests: number; readUnits: number; writeUnits: number; calls: string[] }>;
  /** Reads of a pilot's item by the poll function (a held poll's re-reads). */
  pollPilotReads: number;
}

const READS = new Set(['GetItem', 'Query', 'Scan', 'BatchGetItem', 'TransactGetItems']);

/** What the test itself calls to watch progress: not part of any cost. */
const PROBES = ['summary', 'pilotsGet', '-'];

/**
 * Token reads are left out: `verifyToken` caches a token 5 s per container, so whether a phase
 * pays one depends on the test's pace, not on the code path (docs/cost-model.md says so).
 */
const counted = (fn: string, table: string) => !PROBES.includes(fn) && table !== 'tokens';

function summarise(c: DynamoCounter): Summary {
  const out: Summary = { requests: 0, readUnits: 0, writeUnits: 0, byFunction: {}, pollPilotReads: 0 };
  const entry = (fn: string) =>
    (out.byFunction[fn] ??= { requests: 0, readUnits: 0, writeUnits: 0, calls: [] });
  for (const k of c.calls()) {
    if (!counted(k.fn, k.table)) continue;
    entry(k.fn).requests += k.count;
    out.requests += k.count;
    if (k.fn === 'pilotsPoll' && k.command === 'GetItem' && k.table === 'pilots')
      out.pollPilotReads += k.count;
  }
  for (const t of c.tally()) {
    if (!counted(t.fn, t.table)) continue;
    const f = entry(t.fn);
    const units = t.units.total;
    const read = READS.has(t.command);
    if (read) {
      f.readUnits += t.billedReadUnits;
      out.readUnits += t.billedReadUnits;
    } else {
      f.writeUnits += units;
      out.writeUnits += units;
    }
    const ix = Object.entries(t.units.indexes)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${k} ${n}`);
    f.calls.push(
      `${t.command} ${t.table} ×${t.requests} (${read ? t.billedReadUnits : t.units.table}${ix.length ? ` + GSI ${ix.join(', ')}` : ''} ${read ? 'RRU' : 'WRU'})`,
    );
  }
  return out;
}

/** Requests a function made so far (to wait for stream consumers to finish a phase). */
const requestsOf = (fn: string) =>
  counter
    .calls()
    .filter((c) => c.fn === fn)
    .reduce((n, c) => n + c.count, 0);

async function counts(): Promise<Record<string, number>> {
  const r = await s.call('GET', '/summary');
  return {
    ...r.body.jobs,
    ...Object.fromEntries(Object.entries(r.body.pilots).map(([k, v]) => [`pilot:${k}`, v])),
  };
}

/**
 * Runs `act`, then waits until its effects are visible (`settled`) and every stream reader of the
 * local stack is idle — each record the writes announced has been read and its functions have
 * returned, cascades included (a stream function's writes kick their reader before it returns) —
 * so stream work is counted in the phase that caused it; returns what the phase cost.
 */
async function phase(
  name: string,
  act: () => Promise<void>,
  settled: () => Promise<boolean>,
  opts: { record?: boolean } = {},
): Promise<Summary> {
  counter.reset();
  await act();
  await waitFor(async () => (await settled()) && streamsIdle(s), {
    what: `${name} settled`,
    timeoutMs: 15_000,
  });
  const sum = summarise(counter);
  if (opts.record ?? true) results[name] = sum;
  return sum;
}

/** Fault injection: every DynamoDB request of this function first waits `ms` (a slow stream function). */
let slowFunction: { fn: string; ms: number } | undefined;

before(async () => {
  s = await startTestStack({ P3S_REAPER_INTERVAL: '3600', P3S_LONGPOLL_CHECK_MS: String(CHECK_MS) });
  // Lambda behaviour: nothing can wake a held poll, it re-reads its pilot item.
  installWakeups({
    inProcess: false,
    notify() {},
    wait: (_key, ms) => new Promise((resolve) => setTimeout(() => resolve(false), ms)),
    requestGone: () => undefined,
  });
  counter = countDynamo(s.tablePrefix);
  dynamo().middlewareStack.add(
    (next) => async (args) => {
      const slow = slowFunction;
      if (slow) {
        const limit = Error.stackTraceLimit;
        Error.stackTraceLimit = 60;
        const stack = new Error().stack;
        Error.stackTraceLimit = limit;
        if (counter.functionOf(stack) === slow.fn) await new Promise((r) => setTimeout(r, slow.ms));
      }
      return next(args);
    },
    { step: 'initialize', name: 'p3sTestSlowFunction' },
  );
});

after(async () => {
  mkdirSync(join(repoRoot, 'test-output'), { recursive: true });
  writeFileSync(join(repoRoot, 'test-output', 'cost-count.json'), `${JSON.stringify(results, null, 2)}\n`);
  await s.close();
});

describe('DynamoDB requests per dispatched job and per idle poll', () => {
  test('a job claimed by a polling pilot (fast path), from submit to jobstop', async (t) => {
    const p = new SimPilot(s);
    assert.equal((await p.register()).status, 201);
    const base = await counts();
    let jobId = '';
    const submit = await phase(
      'submit',
      async () => {
        const r = await s.call('POST', '/jobs', { body: [JOB] });
        assert.equal(r.status, 201);
        jobId = r.body[0].id;
      },
      async () => (await counts()).defined === (base.defined ?? 0) + 1 && requestsOf('matchmaker') > 0,
    );
    const dispatch = await phase(
      'dispatch (fast path)',
      async () => {
        const r = await p.poll(0);
        assert.equal(r.body.state, 'dispatched');
        assert.equal(r.body.job.id, jobId);
      },
      async () => (await counts()).dispatched === (base.dispatched ?? 0) + 1,
    );
    const start = await phase(
      'jobstart',
      async () => assert.equal((await p.report({ event: 'jobstart', jobId, pid: 1 })).status, 200),
      async () => (await counts()).running === (base.running ?? 0) + 1,
    );
    const firstBeat = await phase(
      'first heartbeat',
      async () => assert.equal((await p.report({ event: 'heartbeat', jobId })).status, 200),
      // The pilot becomes `running` (jobstart does not write it): a pilots-stream record.
      async () => requestsOf('jobEvents') > 0,
    );
    const beat = await phase(
      'heartbeat',
      async () => assert.equal((await p.report({ event: 'heartbeat', jobId })).status, 200),
      async () => true,
    );
    const stop = await phase(
      'jobstop',
      async () => assert.equal((await p.report({ event: 'jobstop', jobId, exitCode: 0 })).status, 200),
      // (An uncapped type's end frees no cap slot: no matching round.)
      async () => (await counts()).finished === (base.finished ?? 0) + 1,
    );
    assert.equal(requestsOf('matchmaker'), 0, "an uncapped job's end wakes no matchmaker");
    for (const [name, sum] of Object.entries({ submit, dispatch, start, firstBeat, beat, stop }))
      t.diagnostic(`${name}: ${JSON.stringify(sum)}`);
    // One job alone, each phase its own stream batch: the upper bound the cost model starts from.
    const job = [submit, dispatch, start, firstBeat, stop];
    const total = (k: 'requests' | 'readUnits' | 'writeUnits') => job.reduce((n, x) => n + x[k], 0);
    assert.ok(total('requests') <= 24, `requests per lone job ${total('requests')}`);
    assert.ok(total('writeUnits') <= 45, `write units per lone job ${total('writeUnits')}`);
    // A heartbeat while the job runs: the pilot item only, no stream function.
    assert.ok(beat.requests <= 2 && beat.writeUnits <= 1, `heartbeat ${JSON.stringify(beat)}`);
    assert.deepEqual(Object.keys(beat.byFunction), ['pilotsReport'], 'a heartbeat wakes no stream function');
  });

  test('per job in a burst (20 jobs, 10 pilots, as real pilots do it): at most 10 requests and 25 WRU', async (t) => {
    const K = 20;
    const pilots = Array.from({ length: 10 }, () => new SimPilot(s));
    for (const p of pilots) assert.equal((await p.register()).status, 201);
    const before = await counts();
    const ran = new Set<string>();
    const sum = await phase(
      'burst: 20 jobs',
      async () => {
        const body = Array.from({ length: K }, (_, i) => ({ ...JOB, name: `burst-${i}` }));
        assert.equal((await s.call('POST', '/jobs', { body })).status, 201);
        // Each pilot: poll, then jobstart and jobstop asking for the next job, until none is left.
        await Promise.all(
          pilots.map(async (p) => {
            let answer = (await p.poll(0)).body;
            while (answer?.state === 'dispatched') {
              const id = answer.job.id as string;
              ran.add(id);
              assert.equal((await p.report({ event: 'jobstart', jobId: id })).status, 200);
              const end = await p.report({ event: 'jobstop', jobId: id, exitCode: 0, next: true });
              answer = end.body.next;
            }
          }),
        );
      },
      async () => (await counts()).finished === (before.finished ?? 0) + K,
    );
    assert.equal(ran.size, K);
    const per = (k: 'requests' | 'readUnits' | 'writeUnits') => Math.round((sum[k] / K) * 100) / 100;
    t.diagnostic(`per job: ${per('requests')} requests, ${per('readUnits')} RRU, ${per('writeUnits')} WRU`);
    results['burst: per job'] = {
      requests: per('requests'),
      readUnits: per('readUnits'),
      writeUnits: per('writeUnits'),
      byFunction: {},
      pollPilotReads: Math.round((sum.pollPilotReads / K) * 100) / 100,
    };
    // Budgets (docs/cost-model.md): fail when the hot path gets dearer.
    assert.ok(per('requests') <= 10, `requests per job ${per('requests')}`);
    assert.ok(per('writeUnits') <= 25, `write units per job ${per('writeUnits')}`);
    assert.ok(per('readUnits') <= 6, `read units per job ${per('readUnits')}`);
  });

  test('a job handed by the matchmaker to a pilot waiting in a long poll', async (t) => {
    const p = new SimPilot(s);
    assert.equal((await p.register()).status, 201);
    let jobId = '';
    const sum = await phase(
      'dispatch (matchmaker, held poll)',
      async () => {
        const poll = p.poll(10);
        await waitFor(async () => (await s.call('GET', `/pilots/${p.id}`)).body.state === 'waiting', {
          what: 'pilot waiting',
        });
        const r = await s.call('POST', '/jobs', { body: [JOB] });
        jobId = r.body[0].id;
        const answer = await poll;
        assert.equal(answer.body.state, 'dispatched');
        assert.equal(answer.body.job.id, jobId);
      },
      async () => requestsOf('jobEvents') > 0 && requestsOf('matchmaker') > 0,
    );
    t.diagnostic(JSON.stringify(sum));
    assert.ok(sum.byFunction.matchmaker, 'the matchmaker made the claim');
    await p.report({ event: 'jobstart', jobId, pid: 1 });
    await p.report({ event: 'jobstop', jobId, exitCode: 0 });
  });

  test('an idle pilot: one empty poll, answered at once and held (re-reads every P3S_LONGPOLL_CHECK_MS)', async (t) => {
    const p = new SimPilot(s);
    assert.equal((await p.register()).status, 201);
    // The first empty poll makes the pilot idle (a state change the stream functions see); the
    // next ones are the steady state of an idle pilot.
    await phase(
      'first idle poll',
      async () => assert.equal((await p.poll(0)).body.state, 'no jobs'),
      // A poll that does not hold (wait 0) is not handed work by the matchmaker: its round
      // finds no live hold and reads nothing else.
      async () => requestsOf('matchmaker') >= 1 && requestsOf('jobEvents') > 0,
    );
    const quick = await phase(
      'idle poll, wait 0',
      async () => assert.equal((await p.poll(0)).body.state, 'no jobs'),
      async () => true,
    );
    const holdSec = 2;
    const held = await phase(
      `idle poll, wait ${holdSec}`,
      async () => assert.equal((await p.poll(holdSec)).body.state, 'no jobs'),
      async () => true,
    );
    t.diagnostic(`wait 0: ${JSON.stringify(quick)}`);
    t.diagnostic(`wait ${holdSec}: ${JSON.stringify(held)}`);
    // At most one read per check interval (fewer when the machine is slow), and one more for a
    // last short interval: the cost model's rate. Only the pilot reads are compared: whether a
    // phase also re-reads the cached job types depends on the test's pace, not on the hold.
    const rereads = held.pollPilotReads - quick.pollPilotReads;
    assert.ok(
      rereads >= 1 && rereads <= (holdSec * 1000) / CHECK_MS + 1,
      `a held poll re-reads its pilot every ${CHECK_MS} ms (${rereads} extra reads in ${holdSec} s)`,
    );
    // A held poll enters the idle index under the end of its hold (a new key each time: the old
    // entry is deleted, the new one put); a wait-0 poll stays out of it. Nothing else is written.
    assert.ok(
      held.writeUnits <= quick.writeUnits + 2,
      `holding a poll writes only its idle-index entry (${quick.writeUnits} → ${held.writeUnits} WRU)`,
    );
    assert.deepEqual(Object.keys(quick.byFunction), ['pilotsPoll'], 'an idle poll wakes no stream function');
  });

  test('a phase ends only when its stream functions have returned, even one that pauses for seconds', async () => {
    // A site of its own: the idle pilot of the test before cannot take the job.
    const p = new SimPilot(s, { site: 'slowtest' });
    assert.equal((await p.register()).status, 201);
    const jobId = (await s.call('POST', '/jobs', { body: [{ ...JOB, site: 'slowtest' }] })).body[0]
      .id as string;
    await waitFor(() => streamsIdle(s), { what: 'submit handled' });
    assert.equal((await p.poll(0)).body.job?.id, jobId);
    await waitFor(() => streamsIdle(s), { what: 'dispatch handled' });
    // jobEvents now waits 1.5 s before each request: far longer than any "quiet" heuristic.
    slowFunction = { fn: 'jobEvents', ms: 1500 };
    try {
      const start = await phase(
        'jobstart (jobEvents slowed)',
        async () => assert.equal((await p.report({ event: 'jobstart', jobId, pid: 1 })).status, 200),
        async () => true,
        { record: false },
      );
      const beat = await phase(
        'heartbeat after it',
        // A plain sign of life (no job named: the pilot's state does not change).
        async () => assert.equal((await p.report({ event: 'heartbeat' })).status, 200),
        async () => true,
        { record: false },
      );
      const normal = results.jobstart?.byFunction.jobEvents?.requests;
      assert.ok(normal, 'the first test measured jobEvents on a jobstart');
      assert.equal(start.byFunction.jobEvents?.requests, normal, 'the slow function was waited for');
      assert.deepEqual(
        Object.keys(beat.byFunction),
        ['pilotsReport'],
        'nothing of it leaked into the next phase',
      );
    } finally {
      slowFunction = undefined;
    }
    assert.equal((await p.report({ event: 'jobstop', jobId, exitCode: 0 })).status, 200);
    await waitFor(() => streamsIdle(s), { what: 'jobstop handled' });
  });

  test('every call is allowed by the calling function’s `iam:` in serverless.yml', () => {
    assert.deepEqual(counter.iamViolations(), []);
    const fns = new Set([...counter.uses.values()].map((u) => u.fn));
    for (const fn of ['jobsSubmit', 'pilotsPoll', 'pilotsReport', 'matchmaker', 'jobEvents'])
      assert.ok(fns.has(fn), `calls of ${fn} were attributed to it`);
  });
});
