import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { type PilotProcess, runCli, startPilot } from '../helpers/pilots.ts';
import { startTestStack, type TestStack, waitFor } from '../helpers/stack.ts';

let s: TestStack;
let pilots: PilotProcess[] = [];
const joblog = mkdtempSync(join(tmpdir(), 'p3s-e2e-joblog-'));
before(async () => {
  s = await startTestStack({
    P3S_HEARTBEAT_TIMEOUT: '3',
    P3S_REAPER_INTERVAL: '0.5',
    P3S_DISPATCH_GRACE: '10',
  });
});
after(async () => {
  await Promise.all(pilots.map((p) => p.stop('SIGKILL')));
  await s.close();
});

/** Pilots of one test; every test stops its own, so a job can only go to the pilots it started. */
function pilot(args: string[] = []): PilotProcess {
  const p = startPilot(s.url, s.pilotToken, args, {}, joblog);
  pilots.push(p);
  return p;
}

afterEach(async () => {
  await Promise.all(pilots.map((p) => p.stop('SIGTERM')));
  pilots = [];
});

/** Submits jobs; those that name no job type are of type `default`. */
async function submit(jobs: Record<string, unknown>[]): Promise<{ id: string }[]> {
  const r = await s.call('POST', '/jobs', { body: jobs.map((j) => ({ jobtype: 'default', ...j })) });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

const job = (id: string) => s.call('GET', `/jobs/${id}`).then((r) => r.body);
const ended = (id: string) =>
  waitFor(async () => ((await job(id)).endedAt ? job(id) : undefined), {
    timeoutMs: 30_000,
    what: `job ${id} to end`,
  });
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('real pilots run real payloads', () => {
  test('an original-format job runs and its .out holds the job env', async () => {
    const p = pilot();
    const [j] = await submit([
      {
        name: 'envdump',
        jobtype: 'evdisp',
        payload: '/usr/bin/env',
        timeout: '60',
        priority: '1',
        state: 'defined',
        env: { DUNETPCVER: 'v06_60_00', P3S_INPUT_FILE: '/data/np04_raw_run1.root' },
      },
    ]);
    const done = await ended(j!.id);
    assert.equal(done.state, 'finished');
    const out = readFileSync(join(p.joblog, `${j!.id}.out`), 'utf8');
    assert.match(out, /^DUNETPCVER=v06_60_00$/m);
    assert.match(out, /^P3S_INPUT_FILE=\/data\/np04_raw_run1\.root$/m);
    assert.match(out, new RegExp(`^P3S_JOB_UUID=${j!.id}$`, 'm'));
    assert.match(out, new RegExp(`^P3S_PILOT_UUID=${done.pilotId}$`, 'm'));
    assert.doesNotMatch(out, /^P3S_TOKEN=/m, 'the pilot token never reaches a payload');
    assert.match(done.stdoutTail, /DUNETPCVER=v06_60_00/, 'the stdout tail reaches the server');
  });

  test('SHELL mode runs the payload string with /bin/sh -c', async () => {
    const p = pilot();
    const [j] = await submit([
      { name: 'shell', payload: 'echo "a b" | wc -w; exit 3', env: { P3S_EXECMODE: 'SHELL' } },
    ]);
    const done = await ended(j!.id);
    assert.equal(done.state, 'failed');
    assert.equal(done.exitCode, 3);
    assert.equal(readFileSync(join(p.joblog, `${j!.id}.out`), 'utf8').trim(), '2');
  });

  test('COPY mode runs a copy of the payload in a fresh sandbox that is its cwd', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'p3s-copy-'));
    const script = join(dir, 'where.sh');
    writeFileSync(script, '#!/bin/sh\necho "cwd=$(pwd)"\necho "me=$0"\n', { mode: 0o755 });
    const p = pilot();
    const [j] = await submit([{ name: 'copy', payload: script, env: { P3S_MODE: 'COPY' } }]);
    const done = await ended(j!.id);
    assert.equal(done.state, 'finished', done.stderrTail);
    const out = readFileSync(join(p.joblog, `${j!.id}.out`), 'utf8');
    const cwd = /cwd=(.*)/.exec(out)![1]!;
    assert.ok(cwd.includes(j!.id), `sandbox ${cwd} is per job`);
    assert.notEqual(cwd, dir);
    assert.match(
      out,
      new RegExp(`me=.*${j!.id}.*where\\.sh`),
      'the copy in the sandbox ran, not the original',
    );
  });

  test('a sleep 100 payload is killed at its time limit and ends timelimit', async () => {
    pilot(['--kill-grace', '1']);
    const t0 = Date.now();
    const [j] = await submit([{ name: 'sleeper', payload: 'sleep 100', timeout: 2 }]);
    const done = await ended(j!.id);
    assert.equal(done.state, 'timelimit');
    assert.ok(Date.now() - t0 < 20_000);
    // From the payload's own start (the pilot's clock); the server's startedAt is when the
    // jobstart report arrived, which a busy machine can delay.
    assert.ok(Date.parse(done.endedAt) - Date.parse(done.payloadStartedAt) >= 1900, 'not before its limit');
  });

  test('a payload that cannot start ends nonstarter', async () => {
    pilot();
    const [j] = await submit([{ name: 'missing', payload: '/no/such/program --x' }]);
    const done = await ended(j!.id);
    assert.equal(done.state, 'nonstarter');
    assert.ok(done.message);
  });

  test('a pilot killed with SIGKILL leads to pilotTO after the heartbeat timeout', async () => {
    const p = pilot();
    const [j] = await submit([{ name: 'orphan', payload: 'sleep 60' }]);
    await waitFor(async () => (await job(j!.id)).state === 'running', { timeoutMs: 20_000, what: 'running' });
    const pilotId = (await job(j!.id)).pilotId;
    await p.stop('SIGKILL');
    const killedAt = Date.now();
    const done = await ended(j!.id);
    assert.equal(done.state, 'pilotTO');
    const lost = (await s.call('GET', `/pilots/${pilotId}`)).body;
    assert.equal(lost.state, 'timeout');
    // Detected after the heartbeat timeout (3 s) from its last sign of life, and no later than
    // that plus one reaper interval (0.5 s) and a margin for a loaded machine (2 s).
    const detectedMs = Date.parse(done.endedAt) - killedAt;
    assert.ok(Date.parse(done.endedAt) - Date.parse(lost.lastSeenAt) >= 3000, 'not before the timeout');
    assert.ok(detectedMs <= (3 + 0.5 + 2) * 1000, `pilotTO ${detectedMs} ms after the kill`);
    const types = (await s.call('GET', '/jobtypes')).body.jobtypes;
    assert.equal(
      types.find((t: { name: string }) => t.name === 'default')?.inFlight,
      0,
      'the cap slot came back',
    );
  });

  test('killing a job from the CLI kills its whole process group', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'p3s-kill-'));
    pilot();
    const [j] = await submit([
      {
        name: 'family',
        payload: `sleep 300 & echo $! > ${dir}/child; echo $$ > ${dir}/parent; wait`,
        env: { P3S_EXECMODE: 'SHELL' },
      },
    ]);
    await waitFor(
      () =>
        existsSync(join(dir, 'child')) &&
        existsSync(join(dir, 'parent')) &&
        readFileSync(join(dir, 'child'), 'utf8').trim() !== '',
      { timeoutMs: 20_000, what: 'payload started' },
    );
    const child = Number(readFileSync(join(dir, 'child'), 'utf8'));
    const parent = Number(readFileSync(join(dir, 'parent'), 'utf8'));
    assert.ok(alive(child) && alive(parent));
    const r = await runCli(s.url, s.adminToken, ['job', 'kill', j!.id, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const done = await ended(j!.id);
    assert.equal(done.state, 'killed');
    await waitFor(() => !alive(child) && !alive(parent), {
      timeoutMs: 10_000,
      what: 'payload processes gone',
    });
  });
});

describe('caps and priorities with real pilots', () => {
  test('with a cap of 2, 10 jobs and 5 pilots, never more than 2 run at once', async () => {
    assert.equal((await s.call('PUT', '/jobtypes/capped', { body: { limit: 2 } })).status, 200);
    const dir = mkdtempSync(join(tmpdir(), 'p3s-cap-'));
    const jobs = await submit(
      Array.from({ length: 10 }, (_, i) => ({
        name: `cap-${i}`,
        jobtype: 'capped',
        // Each payload marks itself running, counts who else is, and unmarks itself.
        payload: `touch ${dir}/run.$P3S_JOB_UUID; ls ${dir} | grep -c '^run\\.' >> ${dir}/counts.$P3S_JOB_UUID; sleep 0.4; rm ${dir}/run.$P3S_JOB_UUID`,
        env: { P3S_EXECMODE: 'SHELL' },
      })),
    );
    for (let i = 0; i < 5; i++) pilot();
    for (const j of jobs) assert.equal((await ended(j.id)).state, 'finished');
    const counts = readdirSync(dir)
      .filter((f) => f.startsWith('counts.'))
      .map((f) => Number(readFileSync(join(dir, f), 'utf8').trim()));
    assert.equal(counts.length, 10);
    assert.ok(Math.max(...counts) <= 2, `at most 2 at once, saw ${Math.max(...counts)}`);
    const pilotsUsed = new Set(await Promise.all(jobs.map(async (j) => (await job(j.id)).pilotId)));
    assert.ok(pilotsUsed.size >= 2, 'the work was spread over pilots');
  });

  test('with one pilot, priorities decide the order (FIFO within a priority)', async () => {
    const prios = [0, 5, -3, 5, 12, 1, 100, 5];
    const jobs = await submit(
      prios.map((priority, i) => ({ name: `prio-${i}`, jobtype: 'ordered', priority, payload: '/bin/true' })),
    );
    pilot(['--cycles', '0']);
    const done = await Promise.all(jobs.map((j) => ended(j.id)));
    const order = [...done].sort((a, b) => a.startedAt.localeCompare(b.startedAt)).map((j) => j.name);
    const expected = prios
      .map((p, i) => ({ p, i }))
      .sort((a, b) => b.p - a.p || a.i - b.i)
      .map(({ i }) => `prio-${i}`);
    assert.deepEqual(order, expected);
  });
});
