/**
 * `npm start` stops cleanly however it is asked — SIGTERM to npm (a process manager), SIGINT to
 * its process group (Ctrl-C), or npm killed outright (the stack notices its parent is gone) —
 * and leaves nothing running; "p3s stopped." is printed only once Java has exited.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import {
  type StackProcess,
  type StackProcessOptions,
  startStackProcess,
} from '../../scripts/bench/stack-process.ts';
import { running, within } from '../helpers/processes.ts';
import { waitFor } from '../helpers/stack.ts';

// A failed test still leaves nothing behind (its stack would hold the test's pipes open).
let current: StackProcess | undefined;
afterEach(async () => {
  await current?.stop('SIGKILL');
  current = undefined;
});

async function start(o: StackProcessOptions): Promise<StackProcess> {
  current = await startStackProcess(o);
  return current;
}

/** Watches for "p3s stopped." and notes whether Java was still running when it was printed. */
function watchStopped(st: StackProcess, java: number): { javaRunningThen?: boolean } {
  const seen: { javaRunningThen?: boolean } = {};
  st.child.stdout!.on('data', (d) => {
    if (String(d).includes('p3s stopped.')) seen.javaRunningThen ??= running(java);
  });
  return seen;
}

async function nothingLeft(st: StackProcess, java: number): Promise<void> {
  await waitFor(() => !running(st.pids.node) && !running(java), {
    timeoutMs: 25_000,
    what: 'node and Java gone',
  });
  await assert.rejects(fetch(`${st.url}/healthz`), 'the port is closed');
}

describe('npm start stops cleanly however it is asked', () => {
  test('SIGTERM to the npm process', async () => {
    const st = await start({ npm: true });
    const java = st.pids.java;
    const stopped = watchStopped(st, java);
    st.child.kill('SIGTERM');
    await within(st.exited, 25_000, 'npm to exit');
    await nothingLeft(st, java);
    assert.match(st.output(), /SIGTERM: stopping p3s…/);
    assert.equal(stopped.javaRunningThen, false, '"p3s stopped." printed, and only after Java exited');
  });

  test('SIGINT to the process group (Ctrl-C)', async () => {
    const st = await start({ npm: true, detached: true });
    const java = st.pids.java;
    const stopped = watchStopped(st, java);
    process.kill(-st.child.pid!, 'SIGINT');
    await within(st.exited, 25_000, 'npm to exit');
    await nothingLeft(st, java);
    assert.match(st.output(), /SIGINT: stopping p3s…/);
    assert.equal(stopped.javaRunningThen, false);
  });

  test('npm killed with -9: the stack sees its parent die and stops', async () => {
    const st = await start({ npm: true });
    const java = st.pids.java;
    const stopped = watchStopped(st, java);
    st.child.kill('SIGKILL');
    await nothingLeft(st, java);
    assert.match(st.output(), /parent process \d+ exited: stopping p3s…/);
    assert.equal(stopped.javaRunningThen, false);
  });
});
