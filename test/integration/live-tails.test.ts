import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SimPilot } from '../helpers/pilot-sim.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

/**
 * Heartbeats carry the running payload's output tails (docs/protocol.md): stored on the job
 * while it runs and is the pilot's, bounded, never over the final report's tails.
 */
let s: TestStack;
before(async () => {
  s = await startTestStack();
});
after(async () => {
  await s.close();
});

async function running(name: string): Promise<{ id: string; p: SimPilot }> {
  const [job] = (await s.call('POST', '/jobs', { body: [{ name, jobtype: 'live', payload: 'true' }] })).body;
  const p = new SimPilot(s);
  assert.equal((await p.register()).status, 201);
  assert.equal((await p.poll(5)).body.job?.id, job.id);
  assert.equal((await p.report({ event: 'jobstart', jobId: job.id })).status, 200);
  return { id: job.id, p };
}

const job = async (id: string) => (await s.call('GET', `/jobs/${id}`)).body;

describe('live output tails', () => {
  test("a heartbeat's tails show on the running job, and the final report's replace them", async () => {
    const { id, p } = await running('live-1');
    const hb = await p.report({ event: 'heartbeat', jobId: id, stdoutTail: 'event 1\n', stderrTail: '' });
    assert.equal(hb.status, 200, JSON.stringify(hb.body));
    let j = await job(id);
    assert.equal(j.state, 'running');
    assert.equal(j.stdoutTail, 'event 1\n');
    assert.equal(j.stderrTail, '');
    assert.ok(j.tailAt >= j.startedAt, 'tailAt set');
    // A heartbeat without tails (output did not grow) leaves them.
    assert.equal((await p.report({ event: 'heartbeat', jobId: id })).status, 200);
    assert.equal((await job(id)).stdoutTail, 'event 1\n');
    assert.equal(
      (await p.report({ event: 'jobstop', jobId: id, exitCode: 0, stdoutTail: 'event 1\nall done\n' }))
        .status,
      200,
    );
    // A late heartbeat (delivered after the end) changes nothing.
    await p.report({ event: 'heartbeat', jobId: id, stdoutTail: 'stale\n' });
    j = await job(id);
    assert.equal(j.state, 'finished');
    assert.equal(j.stdoutTail, 'event 1\nall done\n');
    await p.report({ event: 'stopped' });
  });

  test('tails over 2 KiB on a heartbeat are a 400 naming the field, and change nothing', async () => {
    const { id, p } = await running('live-2');
    const r = await p.report({ event: 'heartbeat', jobId: id, stdoutTail: 'x'.repeat(2049) });
    assert.equal(r.status, 400);
    assert.match(r.body.message, /stdoutTail: at most 2048 characters in a heartbeat/);
    const noJob = await p.report({ event: 'heartbeat', stdoutTail: 'x' });
    assert.equal(noJob.status, 400);
    assert.match(noJob.body.message, /jobId/);
    assert.equal((await job(id)).stdoutTail, undefined);
    await p.report({ event: 'jobstop', jobId: id, exitCode: 0 });
    await p.report({ event: 'stopped' });
  });

  test('tails before jobstart are not stored (the job is not running yet)', async () => {
    const [j] = (
      await s.call('POST', '/jobs', { body: [{ name: 'live-5', jobtype: 'live', payload: 'true' }] })
    ).body;
    const p = new SimPilot(s);
    await p.register();
    assert.equal((await p.poll(5)).body.job?.id, j.id);
    assert.equal((await p.report({ event: 'heartbeat', jobId: j.id, stdoutTail: 'early\n' })).status, 200);
    assert.equal((await job(j.id)).stdoutTail, undefined);
    await p.report({ event: 'jobstart', jobId: j.id });
    await p.report({ event: 'jobstop', jobId: j.id, exitCode: 0 });
    await p.report({ event: 'stopped' });
  });

  test("a pilot cannot write tails to another pilot's job", async () => {
    const a = await running('live-3');
    const b = await running('live-4');
    const r = await b.p.report({ event: 'heartbeat', jobId: a.id, stdoutTail: 'not mine\n' });
    assert.equal(r.status, 409);
    assert.equal((await job(a.id)).stdoutTail, undefined);
    for (const x of [a, b]) {
      await x.p.report({ event: 'jobstop', jobId: x.id, exitCode: 0 });
      await x.p.report({ event: 'stopped' });
    }
  });
});
