/**
 * The pilot as a real process (pilot/main.ts under tsx): signals, --count children, exit
 * codes. Against the stand-in server, so no p3s server is needed.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, beforeEach, describe, test } from 'node:test';
import { groupMembers } from '../../pilot/payload.ts';
import { type Answer, events, type FakeServer, startFakeServer, until } from './pilot-fake-server.ts';

const root = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'p3s-pilot-main-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let fake: FakeServer;
const started: ChildProcess[] = [];
beforeEach(async () => {
  fake = await startFakeServer();
});
afterEach(async () => {
  for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  started.length = 0;
  await fake.close();
});

interface Run {
  child: ChildProcess;
  exit: Promise<{ code: number | null; stderr: string }>;
  stderr: () => string;
}

function pilot(...argv: string[]): Run {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'pilot/main.ts', '--server', fake.url, '--wait', '20', ...argv],
    {
      cwd: root,
      env: { PATH: process.env.PATH, P3S_TOKEN: 'p3s_test', P3S_JOBLOG: join(dir, 'jobs') },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  started.push(child);
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const exit = new Promise<{ code: number | null; stderr: string }>((resolve) =>
    child.once('close', (code) => resolve({ code, stderr })),
  );
  return { child, exit, stderr: () => stderr };
}

const holdPolls = () => {
  fake.override = (r) => (r.path.endsWith('/poll') ? new Promise<Answer>(() => {}) : undefined);
};
const polls = () => fake.requests.filter((r) => r.path.endsWith('/poll')).length;

describe('pilot process', () => {
  test('--help prints the usage and exits 0', async () => {
    const { exit, child } = pilot('--help');
    let out = '';
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
    });
    assert.equal((await exit).code, 0);
    assert.match(out, /--cycles N/);
  });

  test('a refused token exits 3 with a one-line reason', async () => {
    fake.override = () => ({ status: 401, body: { code: 'unauthorized', message: 'unknown token' } });
    const r = await pilot().exit;
    assert.equal(r.code, 3);
    assert.match(r.stderr, /register refused: HTTP 401 unknown token/);
  });

  test('--count 2 starts two pilots; SIGTERM to the parent stops both cleanly', async () => {
    holdPolls();
    const { child, exit } = pilot('--count', '2');
    await until('two held polls', () => polls() === 2, 20_000);
    assert.equal(new Set(fake.requests.map((r) => r.path)).size, 3, 'two different pilot ids');
    child.kill('SIGTERM');
    const r = await exit;
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(events(fake), ['stopped', 'stopped']);
    assert.ok(fake.reports.every((b) => b.message === 'SIGTERM'));
  });

  test('--count 3 --in-process runs three pilots in one process; SIGINT stops them all', async () => {
    holdPolls();
    const { child, exit } = pilot('--count', '3', '--in-process');
    await until('three held polls', () => polls() === 3, 20_000);
    const pids = new Set(fake.requests.filter((r) => r.path === '/pilots').map((r) => r.body.pid));
    assert.deepEqual([...pids], [child.pid]);
    child.kill('SIGINT');
    const r = await exit;
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(events(fake), ['stopped', 'stopped', 'stopped']);
  });

  test('children of --count stop by themselves when the parent is killed outright', async () => {
    holdPolls();
    const { child } = pilot('--count', '2');
    await until('two held polls', () => polls() === 2, 20_000);
    child.kill('SIGKILL');
    await until('both children to report stopped', () => events(fake).length === 2, 20_000);
    assert.ok(fake.reports.every((b) => b.message === 'parent pilot gone'));
  });

  test('SIGTERM during a job: the payload gets its grace, is killed with its group and reported', async () => {
    fake.jobs.push({ id: randomUUID(), payload: 'sleep 100 & sleep 100', env: { P3S_EXECMODE: 'SHELL' } });
    const { child, exit } = pilot('--grace', '0.3', '--kill-grace', '0.3');
    await until('jobstart', () => events(fake).includes('jobstart'), 20_000);
    child.kill('SIGTERM');
    const r = await exit;
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      events(fake).filter((e) => e !== 'heartbeat'),
      ['jobstart', 'killed', 'stopped'],
    );
    assert.deepEqual(groupMembers(fake.reports.find((b) => b.pid)!.pid), []);
  });

  test('a second SIGINT stops at once, without waiting out the grace', async () => {
    fake.jobs.push({ id: randomUUID(), payload: 'sleep 100', env: {} });
    const { child, exit, stderr } = pilot('--grace', '600');
    await until('jobstart', () => events(fake).includes('jobstart'), 20_000);
    child.kill('SIGINT');
    await until('the first SIGINT to be taken', () => /SIGINT: taking no more work/.test(stderr()));
    child.kill('SIGINT');
    const r = await exit;
    assert.equal(r.code, 0, r.stderr);
    assert.match(events(fake).join(','), /killed,stopped$/);
    assert.deepEqual(groupMembers(fake.reports.find((b) => b.pid)!.pid), []);
  });
});
