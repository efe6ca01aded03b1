/**
 * The payload guard script with real processes: a process group stands in for a payload, and
 * this test holds the guard's pipe the way the pilot does, so it can close it as a dying pilot
 * would.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { describe, test } from 'node:test';
import { GUARD_SCRIPT, startGuard } from '../../pilot/guard.ts';
import { groupMembers } from '../../pilot/payload.ts';
import { until } from './pilot-fake-server.ts';

/** A stand-in payload: a shell leading its own process group, with a child of its own. */
function payloadGroup(script = 'sleep 300 & sleep 301'): number {
  const p = spawn('/bin/sh', ['-c', script], { detached: true, stdio: 'ignore' });
  p.unref();
  assert.ok(p.pid, 'the stand-in payload started');
  return p.pid;
}

function guardOf(pgid: number, limit: string, ticks = '5'): ChildProcess {
  return spawn('/bin/sh', ['-c', GUARD_SCRIPT, 'p3s-guard', String(pgid), limit, ticks], {
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore'],
  });
}

const exited = (c: ChildProcess) =>
  c.exitCode !== null || c.signalCode !== null
    ? Promise.resolve()
    : new Promise<void>((r) => c.once('exit', () => r()));

const live = (pgid: number) => groupMembers(pgid) ?? [];

/** What is left of the guard's own group (the guard leads it): its `sleep` timer, if any. */
const guardLeftovers = (guardPid: number) => live(guardPid);

describe('payload guard', () => {
  for (const limit of ['0', '300']) {
    test(`the pipe closing without "done" (the pilot died) kills the whole group (limit ${limit})`, async () => {
      const pgid = payloadGroup();
      await until('the stand-in payload and its child', () => live(pgid).length === 3);
      const guard = guardOf(pgid, limit);
      const t0 = Date.now();
      guard.stdin!.end(); // EOF, as when the kernel closes a dead pilot's end
      await until('the group to be gone', () => live(pgid).length === 0, 5000);
      await exited(guard);
      assert.ok(Date.now() - t0 < 3000, `gone ${Date.now() - t0} ms after the pipe closed`);
    });

    test(`"done" makes the guard exit and leave the group alone (limit ${limit})`, async () => {
      const pgid = payloadGroup();
      const guard = guardOf(pgid, limit);
      guard.stdin!.end('done\n');
      await exited(guard);
      assert.equal(guard.exitCode, 0);
      assert.equal(live(pgid).length > 0, true, 'the group was not touched');
      assert.deepEqual(guardLeftovers(guard.pid!), [], 'no sleep timer left behind');
      process.kill(-pgid, 'SIGKILL');
    });
  }

  test('the guard enforces the time limit while the pilot holds the pipe but does nothing', async () => {
    const pgid = payloadGroup();
    const guard = guardOf(pgid, '0.5');
    const t0 = Date.now();
    await until('the group to be gone at the limit', () => live(pgid).length === 0, 5000);
    const took = Date.now() - t0;
    assert.ok(took >= 450 && took < 3000, `gone after ${took} ms (limit 0.5 s)`);
    await exited(guard);
    guard.stdin!.destroy();
  });

  test('a group that ignores SIGTERM gets SIGKILL after the kill grace', async () => {
    const pgid = payloadGroup(`trap '' TERM; sleep 300 & wait; sleep 300`);
    const guard = guardOf(pgid, '0', '3');
    const t0 = Date.now();
    guard.stdin!.end();
    await until('the group to be gone', () => live(pgid).length === 0, 5000);
    assert.ok(Date.now() - t0 >= 250, 'waited for the kill grace of 0.3 s');
    await exited(guard);
  });

  test('startGuard: release() after the payload ended makes the guard exit at once', async () => {
    const pgid = payloadGroup('exit 0');
    const g = startGuard(pgid, 300, 5);
    assert.ok(g.pid, 'the guard started');
    g.release();
    await until('the guard to exit', () => !processAlive(g.pid!), 5000);
  });
});

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  return (groupMembers(pid) ?? []).includes(pid);
}
