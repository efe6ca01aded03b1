/**
 * Uncapped types stay off the counter (docs/cost-model.md, "Uncapped types off the counter"):
 * their claims write no job-type item. Setting a first cap on such a type while its jobs run must
 * still never let the cap be exceeded: the conversion counts the jobs in flight before any claim
 * of the type may succeed, with pilots polling all along.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Tables } from '../helpers/chaos.ts';
import { SimPilot } from '../helpers/pilot-sim.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

let s: TestStack;
let t: Tables;
before(async () => {
  s = await startTestStack({ P3S_REAPER_INTERVAL: '3600', P3S_HEARTBEAT_TIMEOUT: '600' });
  t = new Tables(s.dynamoEndpoint, s.tablePrefix);
});
after(async () => {
  await s.close();
});

const jobsOf = async (type: string) => (await t.scan('jobs')).filter((j) => j.jobtype === type);

test('a cap set on a busy uncapped type counts the jobs in flight first, and is never exceeded', async () => {
  const jobs = Array.from({ length: 16 }, (_, i) => ({ name: `u-${i}`, jobtype: 'busy', payload: 'true' }));
  assert.equal((await s.call('POST', '/jobs', { body: jobs })).status, 201);
  // Six run without a cap: no claim writes the type's item.
  const running: { p: SimPilot; id: string }[] = [];
  for (let i = 0; i < 6; i++) {
    const p = new SimPilot(s);
    await p.register();
    const r = await p.poll(0);
    assert.equal(r.body.job?.jobtype, 'busy');
    await p.report({ event: 'jobstart', jobId: r.body.job.id });
    running.push({ p, id: r.body.job.id });
  }
  assert.equal(await t.get('jobtypes', { name: 'busy' }), undefined, 'uncapped claims write no counter');

  // The cap of 3, set while pilots keep polling for work.
  const pollers = Array.from({ length: 3 }, () => new SimPilot(s));
  for (const p of pollers) await p.register();
  const claimed = new Set<string>(); // a poll re-delivers a job its pilot was given
  let converting = true;
  const polling = (async () => {
    while (converting) {
      for (const p of pollers) {
        const r = await p.poll(0);
        if (r.body.job) claimed.add(r.body.job.id);
      }
    }
  })();
  const set = await s.call('PUT', '/jobtypes/busy', { body: { limit: 3 } });
  converting = false;
  await polling;
  assert.equal(set.status, 200, JSON.stringify(set.body));
  assert.equal(set.body.converting, undefined, 'the conversion finished within the request');
  // Claims concurrent with the request may still have acted on the view without the cap (at
  // most a second old): they are counted too. None can happen after it.
  const inFlightNow = 6 + claimed.size;
  const type = await t.get('jobtypes', { name: 'busy' });
  assert.equal(type.inFlight, inFlightNow, 'every job in flight was counted');
  const all = await jobsOf('busy');
  assert.ok(all.filter((j) => j.state === 'dispatched' || j.state === 'running').every((j) => j.counted));
  const queued = all.filter((j) => j.state === 'defined');
  assert.equal(queued.length, 10 - claimed.size);
  assert.ok(
    queued.every((j) => j.counted && j.qpk === 'QT#busy#*'),
    'queued jobs marked and moved',
  );
  for (const { p } of running) assert.equal((await t.get('pilots', { id: p.id })).counted, true);
  for (const p of pollers) {
    const r = await p.poll(0);
    // (a pilot given a job during the request gets that same job again: not a new claim)
    const fresh = r.body.job && !claimed.has(r.body.job.id);
    assert.ok(!fresh, `no claim over the cap (${inFlightNow} in flight, cap 3)`);
  }
  // The claims made during the request end too; then four of the first six.
  for (const p of pollers) {
    const item = await t.get('pilots', { id: p.id });
    if (item.jobId) await p.report({ event: 'jobstop', jobId: item.jobId, exitCode: 0 });
  }
  for (const { p, id } of running.slice(0, 4)) await p.report({ event: 'jobstop', jobId: id, exitCode: 0 });
  // Two in flight: exactly one more may start.
  assert.equal((await t.get('jobtypes', { name: 'busy' })).inFlight, 2);
  const got: string[] = [];
  for (const p of pollers) {
    const r = await p.poll(0);
    if (r.body.job) got.push(r.body.job.id);
  }
  assert.equal(got.length, 1, 'the cap of 3 held');
  assert.equal((await t.get('jobtypes', { name: 'busy' })).inFlight, 3);
  assert.deepEqual(await t.counterDrift(), {});
});
