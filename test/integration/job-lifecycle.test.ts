import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SimPilot } from '../helpers/pilot-sim.ts';
import { startTestStack, type TestStack, waitFor } from '../helpers/stack.ts';

let s: TestStack;
before(async () => {
  s = await startTestStack();
});
after(async () => {
  await s.close();
});

const fixture = (name: string) =>
  JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures', name), 'utf8'));

describe('a job through its life', () => {
  test('an original-format job walks defined → dispatched → running → finished with all timestamps', async () => {
    const sub = await s.call('POST', '/jobs', { body: fixture('jobs/original-job.json') });
    assert.equal(sub.status, 201);
    assert.equal(sub.body.length, 1);
    const job = sub.body[0];
    assert.equal(job.state, 'defined');
    assert.equal(job.priority, 5, 'a numeric string priority is accepted');
    assert.equal(job.timelimit, 1000, 'the original `timeout` key becomes timelimit');
    assert.equal(job.env.P3S_INPUT_FILE, undefined, 'P3S_INPUT_FILE is not required');

    const p = new SimPilot(s);
    assert.equal((await p.register()).status, 201);
    const poll = await p.poll();
    assert.equal(poll.status, 200);
    assert.equal(poll.body.state, 'dispatched');
    assert.equal(poll.body.job.id, job.id);
    assert.equal(poll.body.job.payload, job.payload);

    assert.equal((await p.report({ event: 'jobstart', jobId: job.id, pid: 4242 })).status, 200);
    const running = (await s.call('GET', `/jobs/${job.id}`)).body;
    assert.equal(running.state, 'running');

    const stop = await p.report({ event: 'jobstop', jobId: job.id, exitCode: 0, stdoutTail: 'hello\n' });
    assert.equal(stop.status, 200);
    const done = (await s.call('GET', `/jobs/${job.id}`)).body;
    assert.equal(done.state, 'finished');
    assert.equal(done.exitCode, 0);
    assert.equal(done.pilotId, p.id);
    assert.equal(done.stdoutTail, 'hello\n');
    for (const k of ['createdAt', 'definedAt', 'dispatchedAt', 'startedAt', 'endedAt']) {
      assert.match(done[k], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, k);
    }
    assert.ok(
      done.definedAt <= done.dispatchedAt &&
        done.dispatchedAt <= done.startedAt &&
        done.startedAt <= done.endedAt,
    );
    const pilot = (await s.call('GET', `/pilots/${p.id}`)).body;
    assert.equal(pilot.state, 'active');
    assert.equal(pilot.jobcount, 1);
  });

  test('a repeated jobstop report is accepted and changes nothing', async () => {
    const [job] = (
      await s.call('POST', '/jobs', { body: [{ name: 'x', jobtype: 'default', payload: '/bin/false' }] })
    ).body;
    const p = new SimPilot(s);
    await p.register();
    assert.equal((await p.poll()).body.job.id, job.id);
    await p.report({ event: 'jobstart', jobId: job.id });
    assert.equal((await p.report({ event: 'jobstop', jobId: job.id, exitCode: 1 })).status, 200);
    const first = (await s.call('GET', `/jobs/${job.id}`)).body;
    assert.equal(first.state, 'failed');
    assert.equal((await p.report({ event: 'jobstop', jobId: job.id, exitCode: 1 })).status, 200);
    const second = (await s.call('GET', `/jobs/${job.id}`)).body;
    assert.deepEqual(second, first);
  });

  test('a pilot reporting on a job that is not its own gets 409 and nothing changes', async () => {
    const [job] = (
      await s.call('POST', '/jobs', { body: [{ name: 'mine', jobtype: 'default', payload: '/bin/true' }] })
    ).body;
    const owner = new SimPilot(s);
    const thief = new SimPilot(s);
    await owner.register();
    await thief.register();
    assert.equal((await owner.poll()).body.job.id, job.id);
    const before = (await s.call('GET', `/jobs/${job.id}`)).body;
    const r = await thief.report({ event: 'jobstop', jobId: job.id, exitCode: 0 });
    assert.equal(r.status, 409);
    assert.match(r.body.message, /not assigned to pilot/);
    assert.deepEqual((await s.call('GET', `/jobs/${job.id}`)).body, before);
  });

  test('a pilot token with the wrong pilot key is 403', async () => {
    const p = new SimPilot(s);
    await p.register();
    const r = await s.call('POST', `/pilots/${p.id}/poll`, {
      token: s.pilotToken,
      headers: { 'x-p3s-pilot-key': 'x'.repeat(40) },
      body: {},
    });
    assert.equal(r.status, 403);
  });

  test('an idle pilot holding a long poll gets a job submitted while it waits', async () => {
    const p = new SimPilot(s);
    await p.register();
    const held = p.poll(10);
    // The pilot is idle once it shows as waiting; then submit.
    await waitFor(async () => (await s.call('GET', `/pilots/${p.id}`)).body.state === 'waiting', {
      what: 'pilot waiting',
    });
    const t0 = Date.now();
    const [job] = (
      await s.call('POST', '/jobs', { body: [{ name: 'late', jobtype: 'default', payload: '/bin/true' }] })
    ).body;
    const r = await held;
    assert.equal(r.body.state, 'dispatched');
    assert.equal(r.body.job.id, job.id);
    assert.ok(Date.now() - t0 < 5000);
  });
});
