/**
 * DynamoDB Local killed under a running stack (`npm start`'s process, with its own P3S_HOME and
 * ports): with data on disk it comes back on the same port and data and the stack carries on;
 * in memory the stack stops, exit 1, saying the data is gone. Prints the measured recovery times.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { type StackProcess, startStackProcess } from '../../scripts/bench/stack-process.ts';
import { startPilot } from '../helpers/pilots.ts';
import { running, within, zombie } from '../helpers/processes.ts';
import { waitFor } from '../helpers/stack.ts';

async function call(st: StackProcess, method: string, path: string, body?: unknown) {
  const r = await fetch(`${st.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${st.adminToken}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, body: (await r.json()) as any };
}

/** Submits one job and waits until a pilot has run it. */
async function runJob(st: StackProcess, name: string): Promise<void> {
  const r = await call(st, 'POST', '/jobs', [{ name, jobtype: 'chaos', payload: '/bin/true' }]);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const id = r.body[0].id as string;
  await waitFor(async () => (await call(st, 'GET', `/jobs/${id}`)).body.state === 'finished', {
    timeoutMs: 30_000,
    intervalMs: 50,
    what: `job ${name} finished`,
  });
}

describe('DynamoDB Local dies under the stack', () => {
  test('with data on disk it is restarted: the API is back within 30 s and a new job runs on a pilot', async (t) => {
    const home = mkdtempSync(join(tmpdir(), 'p3s-chaos-ddb-'));
    const st = await startStackProcess({ home, inMemory: false });
    const pilot = startPilot(st.url, st.pilotToken);
    let restarted = 0;
    try {
      await runJob(st, 'before');
      const java = st.javaPid();
      const t0 = performance.now();
      process.kill(java, 'SIGKILL');
      const down: any[] = [];
      await waitFor(
        async () => {
          const r = await fetch(`${st.url}/healthz`);
          if (r.status === 503) down.push(await r.json());
          return r.status === 200 && down.length > 0;
        },
        { timeoutMs: 30_000, intervalMs: 20, what: 'healthz 503 naming DynamoDB, then 200' },
      );
      const apiMs = performance.now() - t0;
      // Until the exit reaches the supervisor, the health check's own probe fails; then the
      // supervisor says what happened. Either way the failing part is named.
      for (const d of down) assert.deepEqual([d.status, d.problems[0].part], ['unavailable', 'dynamodb']);
      assert.ok(
        down.some((d) => /exited unexpectedly \(signal SIGKILL\); restarting it/.test(d.problems[0].message)),
        JSON.stringify(down.at(-1)),
      );
      assert.equal(zombie(java), false, 'the killed JVM was reaped');
      assert.equal(running(java), false);
      restarted = st.javaPid();
      assert.notEqual(restarted, java);
      await runJob(st, 'after');
      const jobMs = performance.now() - t0;
      t.diagnostic(
        `Java kill -9 → /healthz 200: ${Math.round(apiMs)} ms; → a new job finished on a pilot: ${Math.round(jobMs)} ms`,
      );
      // Nothing the outage touched was lost or counted twice: the counters come to both jobs finished.
      await waitFor(
        async () => {
          const { jobs } = (await call(st, 'GET', '/summary')).body;
          return JSON.stringify(Object.entries(jobs).filter(([, n]) => n)) === '[["finished",2]]';
        },
        { what: 'the counters: 2 jobs finished' },
      );
      assert.match(st.output(), /DynamoDB Local restarted/);
    } finally {
      await pilot.stop();
      await st.stop();
      rmSync(home, { recursive: true, force: true });
    }
    assert.equal(await st.exited, 0);
    assert.match(st.output(), /p3s stopped\./);
    assert.equal(running(restarted), false);
  });

  test('in memory the stack stops with exit 1 and says the data is gone', async () => {
    const st = await startStackProcess({ inMemory: true });
    const java = st.javaPid();
    try {
      process.kill(java, 'SIGKILL');
      assert.equal(await within(st.exited, 25_000, 'the stack to exit'), 1);
    } finally {
      await st.stop('SIGKILL');
    }
    assert.match(st.output(), /exited unexpectedly \(signal SIGKILL\)/);
    assert.match(
      st.output(),
      /It ran in memory \(--in-memory\): every job, pilot and token of this stack is gone/,
    );
    assert.equal(running(st.pids.node), false);
    assert.equal(running(java), false);
  });
});
