/**
 * A job's final report may ask for the pilot's next job (`next: true`, docs/protocol.md): the
 * answer is what a poll with wait 0 would give, one round trip less per job.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Tables } from '../helpers/chaos.ts';
import { SimPilot } from '../helpers/pilot-sim.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

let s: TestStack;
let t: Tables;
before(async () => {
  s = await startTestStack({ P3S_REAPER_INTERVAL: '3600' });
  t = new Tables(s.dynamoEndpoint, s.tablePrefix);
});
after(async () => {
  await s.close();
});

async function submit(n: number, jobtype: string): Promise<string[]> {
  const body = Array.from({ length: n }, (_, i) => ({ name: `next-${i}`, jobtype, payload: 'true' }));
  const r = await s.call('POST', '/jobs', { body });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.map((j: { id: string }) => j.id);
}

/** A pilot running its first job of `type`. */
async function running(type: string): Promise<{ p: SimPilot; id: string }> {
  const p = new SimPilot(s);
  const reg = await p.register();
  assert.equal(reg.body.config.reportNext, true, 'the server says it can');
  const r = await p.poll(0);
  assert.equal(r.body.job?.jobtype, type);
  await p.report({ event: 'jobstart', jobId: r.body.job.id });
  return { p, id: r.body.job.id };
}

describe('a final report that asks for the next job', () => {
  test('is answered with the next queued job, dispatched to the same pilot in the same request', async () => {
    const [, second] = await submit(2, 'nx');
    const { p, id } = await running('nx');
    const r = await p.report({ event: 'jobstop', jobId: id, exitCode: 0, next: true });
    assert.equal(r.status, 200);
    assert.equal(r.body.next?.state, 'dispatched');
    assert.equal(r.body.next.job.id, second);
    assert.equal((await t.get('jobs', { id })).state, 'finished');
    const j = await t.get('jobs', { id: second });
    assert.equal(j.state, 'dispatched');
    assert.equal(j.pilotId, p.id);
    const pilot = await t.get('pilots', { id: p.id });
    assert.equal(pilot.jobId, second);
    assert.equal(pilot.jobcount, 1);
    // The job it was handed runs as if polled for.
    assert.equal((await p.report({ event: 'jobstart', jobId: second })).status, 200);
    const last = await p.report({ event: 'jobstop', jobId: second, exitCode: 0, next: true });
    assert.deepEqual(last.body.next, { state: 'no jobs', retryAfter: 0 });
    assert.equal((await t.get('pilots', { id: p.id })).state, 'active');
  });

  test('without `next`, the answer has none and nothing is claimed', async () => {
    const [, second] = await submit(2, 'nx2');
    const { p, id } = await running('nx2');
    const r = await p.report({ event: 'jobstop', jobId: id, exitCode: 0 });
    assert.deepEqual(r.body, { status: 'ok', action: 'none' });
    assert.equal((await t.get('jobs', { id: second })).state, 'defined');
    await s.call('POST', `/jobs/${second}/kill`); // leave nothing queued for the next test
  });

  test('a drain asked for meanwhile is the answer, and no job is handed over', async () => {
    const [, second] = await submit(2, 'nx3');
    const { p, id } = await running('nx3');
    assert.equal((await s.call('POST', '/pilots/kill', { body: { id: p.id, mode: 'drain' } })).status, 200);
    const r = await p.report({ event: 'jobstop', jobId: id, exitCode: 0, next: true });
    assert.deepEqual(r.body.next, { state: 'drain' });
    assert.equal((await t.get('jobs', { id: second })).state, 'defined');
    await s.call('POST', `/jobs/${second}/kill`);
  });

  test('a capped type at its cap is not handed over', async () => {
    assert.equal((await s.call('PUT', '/jobtypes/nx4', { body: { limit: 1 } })).status, 200);
    await submit(2, 'nx4');
    const holder = await running('nx4');
    const other = await submit(1, 'nx5'); // runnable, behind nothing
    const q = new SimPilot(s);
    await q.register();
    const r = await q.poll(0);
    assert.equal(r.body.job?.id, other[0]);
    await q.report({ event: 'jobstart', jobId: other[0] });
    const end = await q.report({ event: 'jobstop', jobId: other[0], exitCode: 0, next: true });
    assert.deepEqual(end.body.next, { state: 'no jobs', retryAfter: 0 }, 'nx4 is at its cap');
    assert.equal((await t.get('jobtypes', { name: 'nx4' })).inFlight, 1);
    await holder.p.report({ event: 'jobstop', jobId: holder.id, exitCode: 0 });
  });
});
