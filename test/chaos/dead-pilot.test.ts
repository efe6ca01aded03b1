/**
 * A dead pilot costs no job (issue "Nothing lost, nothing starved", scenario 2): jobs go only to
 * pilots holding a live poll; a job handed to a pilot that then never sends `jobstart` goes back
 * to the queue — it provably never ran — exactly once, and that pilot is ended.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { Tables } from '../helpers/chaos.ts';
import { SimPilot } from '../helpers/pilot-sim.ts';
import { type PilotProcess, startPilot } from '../helpers/pilots.ts';
import { startTestStack, type TestStack, waitFor } from '../helpers/stack.ts';

const GRACE = 3;
let s: TestStack;
let t: Tables;
let pilots: PilotProcess[] = [];
const dir = mkdtempSync(join(tmpdir(), 'p3s-dead-pilot-'));

before(async () => {
  s = await startTestStack({
    P3S_HEARTBEAT_TIMEOUT: '4',
    P3S_REAPER_INTERVAL: '0.5',
    P3S_DISPATCH_GRACE: String(GRACE),
    P3S_LONGPOLL_MAX: '20',
  });
  t = new Tables(s.dynamoEndpoint, s.tablePrefix);
});
after(async () => {
  await s.close();
});
afterEach(async () => {
  await Promise.all(pilots.map((p) => p.stop('SIGKILL')));
  pilots = [];
  // Their held polls end as their connections close: no job of the next test may go to them.
  await waitFor(async () => (await idlePilotIds()).length === 0, {
    what: 'the killed pilots to leave the idle index',
  });
});

function pilot(args: string[] = []): PilotProcess {
  const p = startPilot(s.url, s.pilotToken, ['--wait', '20', ...args]);
  pilots.push(p);
  return p;
}

/** A payload that appends one line per run to `file`: the runs can be counted afterwards. */
function counted(name: string, jobtype = 'dead') {
  const file = join(dir, `${name}.runs`);
  return { file, job: { name, jobtype, payload: `echo ran >> ${file}`, env: { P3S_EXECMODE: 'SHELL' } } };
}
const runs = (file: string) => {
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean).length;
  } catch {
    return 0;
  }
};

async function submit(jobs: unknown[]): Promise<string[]> {
  const r = await s.call('POST', '/jobs', { body: jobs });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.map((j: { id: string }) => j.id);
}

/** Pilots holding a live poll (an index entry whose hold has not ended: what the matchmaker reads). */
const idlePilotIds = async () =>
  (await t.scan('pilots'))
    .filter((p) => p.state === 'waiting' && p.ipk && Date.parse(p.holdUntil) > Date.now())
    .map((p) => p.id as string);

/** Starts a simulated poll held for `wait` s; resolves with its answer (never awaited by a "dead" pilot). */
function hold(p: SimPilot, wait = 20) {
  return p.poll(wait);
}

describe('a dead pilot costs no job', () => {
  test('a SIGKILLed idle pilot is not handed the next job: the live idle pilot runs it, once', async () => {
    const live = pilot();
    const dead = pilot();
    await waitFor(async () => (await idlePilotIds()).length === 2, {
      timeoutMs: 20_000,
      what: 'two held polls',
    });
    const regs = await t.scan('pilots');
    dead.child.kill('SIGKILL');
    await dead.exited;
    const { file, job } = counted('after-kill');
    const [id] = await submit([job]);
    const done = await waitFor(
      async () => ((await t.get('jobs', { id }))?.state === 'finished' ? t.get('jobs', { id }) : undefined),
      {
        timeoutMs: 20_000,
        what: 'the job to finish',
      },
    );
    assert.equal(runs(file), 1, 'it ran exactly once');
    // It ran on the live pilot: the one whose process is still there.
    const ranOn = regs.find((p) => p.id === done.pilotId);
    assert.ok(ranOn, 'it ran on one of the two pilots');
    assert.equal(ranOn.pid, live.child.pid, 'the live pilot ran it');
    // Locally the closed connection took the dead pilot out of the idle index at once, so the job
    // was not even dispatched to it (on AWS it would be taken back after the dispatch grace).
    assert.equal(done.requeuedFrom, undefined, 'it was never handed to the dead pilot');
    assert.deepEqual(await t.counterDrift(), {});
  });

  test('a job handed to a pilot that never sends jobstart goes back to the queue and runs on a live pilot', async () => {
    // The "dead" pilot holds a poll, is handed the job, and dies before starting it (on AWS: the
    // answer of a poll whose client is gone; the server cannot tell). A live pilot comes later.
    const ghost = new SimPilot(s);
    await ghost.register();
    const answer = hold(ghost);
    await waitFor(async () => (await idlePilotIds()).includes(ghost.id), {
      what: 'the ghost to hold its poll',
    });
    const { file, job } = counted('ghost');
    const t0 = Date.now();
    const [id] = await submit([job]);
    const handed = await answer;
    assert.equal(handed.body.state, 'dispatched', 'the ghost was handed the job');
    assert.equal(handed.body.job.id, id);
    const livePilot = pilot();

    const done = await waitFor(
      async () => ((await t.get('jobs', { id }))?.state === 'finished' ? t.get('jobs', { id }) : undefined),
      { timeoutMs: 30_000, what: 'the job to finish on the live pilot' },
    );
    const tookMs = Date.now() - t0;
    assert.equal(runs(file), 1, 'it ran exactly once');
    assert.equal(done.requeuedFrom, ghost.id);
    assert.match(done.message ?? '', /put back in the queue/);
    const ranOn = (await t.scan('pilots')).find((p) => p.id === done.pilotId);
    assert.equal(ranOn?.pid, livePilot.child.pid);
    // Time to recovery: the dispatch grace, a reaper interval, and the run itself.
    assert.ok(tookMs < (GRACE + 1 + 5) * 1000, `recovered in ${tookMs} ms`);
    const g = await t.get('pilots', { id: ghost.id });
    assert.equal(g.state, 'timeout', 'the pilot that never started it is ended');
    // The ghost comes back too late: its jobstart is refused (it was ended) and changes nothing.
    const late = await ghost.report({ event: 'jobstart', jobId: id });
    assert.equal(late.status, 409);
    // (Refused for the pilot, ended, or for the job, taken back: whichever the server checks first.)
    assert.match(late.body.message, /is timeout|taken back/);
    assert.equal((await t.get('jobs', { id })).state, 'finished');
    assert.equal((await ghost.poll(0)).status, 409, 'an ended pilot is told to register again');
    assert.deepEqual(await t.counterDrift(), {});
  });

  test('a job is put back once only: the second pilot that never starts it makes it pilotTO', async () => {
    const a = new SimPilot(s);
    const b = new SimPilot(s);
    await a.register();
    await b.register();
    const first = hold(a);
    await waitFor(async () => (await idlePilotIds()).includes(a.id), { what: 'a to hold' });
    const [id] = await submit([counted('twice').job]);
    assert.equal((await first).body.job?.id, id);
    const second = hold(b);
    assert.equal((await second).body.job?.id, id, 'after the grace it went to the next live pilot');
    const j = await waitFor(
      async () => ((await t.get('jobs', { id }))?.state === 'pilotTO' ? t.get('jobs', { id }) : undefined),
      { timeoutMs: 20_000, what: 'the job to end pilotTO' },
    );
    assert.equal(j.requeuedFrom, a.id);
    assert.equal(j.pilotId, b.id);
    assert.match(j.message, /once already/);
    for (const p of [a, b]) assert.equal((await t.get('pilots', { id: p.id })).state, 'timeout');
    assert.deepEqual(await t.counterDrift(), {});
  });

  test('a pilot that stops just as it was handed a job gives it back to the queue', async () => {
    const p = new SimPilot(s);
    await p.register();
    const [id] = await submit([{ ...counted('stopped').job, jobtype: 'stop-race' }]);
    const r = await p.poll(0);
    assert.equal(r.body.job?.id, id);
    assert.equal((await p.report({ event: 'stopped' })).status, 200);
    const j = await t.get('jobs', { id });
    assert.equal(j.state, 'defined', 'it never ran: back in the queue');
    assert.equal(j.requeuedFrom, p.id);
    assert.equal((await t.get('pilots', { id: p.id })).state, 'stopped');
    assert.deepEqual(await t.counterDrift(), {});
    // Leave nothing queued for the next test's pilots.
    assert.equal((await s.call('POST', `/jobs/${id}/kill`)).status, 200);
  });
});
