/**
 * Paced polling on the real stack (issue "Idle pilots at any scale", docs/protocol.md "Idle
 * pilots"): a poll answers at once with a `retryAfter` that grows with the idle pilots so that
 * all of them together poll about P3S_IDLE_POLLS_PER_S times a second; nothing waits in the idle
 * index; the reaper takes a paced pilot's silence until its next poll as expected.
 *
 * The schedule is off (P3S_REAPER_INTERVAL 3600): the tests run the reaper themselves, with a
 * clock moved forward.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { reap } from '../../shared/db/reaper.ts';
import { Tables } from '../helpers/chaos.ts';
import { SimPilot } from '../helpers/pilot-sim.ts';
import { startTestStack, type TestStack, waitFor } from '../helpers/stack.ts';

const HB = 10;
const R = 2;
let s: TestStack;
let t: Tables;

before(async () => {
  s = await startTestStack({
    P3S_POLL_MODE: 'paced',
    P3S_IDLE_POLLS_PER_S: String(R),
    P3S_HEARTBEAT_TIMEOUT: String(HB),
    P3S_REAPER_INTERVAL: '3600',
  });
  t = new Tables(s.dynamoEndpoint, s.tablePrefix);
  // The service clock starts long ago, so the clocks moved forward below never look like a gap.
  await reap(Date.now() - 3_600_000);
});
after(async () => {
  await s.close();
});

const at = (sec: number) => Date.now() + sec * 1000;
const pilotState = async (p: SimPilot) => (await s.call('GET', `/pilots/${p.id}`)).body.state;

describe('paced polling', () => {
  let crowd: SimPilot[] = [];

  test('registration says not to hold polls; a poll answers at once with when to come back', async () => {
    const p = new SimPilot(s);
    crowd.push(p);
    const reg = await p.register();
    assert.equal(reg.status, 201);
    assert.equal(reg.body.config.longpoll, 0, 'nothing to hold');
    // Even a pilot that asks to wait 20 s is answered at once (no timing assertion needed: a
    // held poll would answer without a retryAfter after its hold).
    const r = await p.poll(20);
    assert.equal(r.status, 200);
    assert.equal(r.body.state, 'no jobs');
    assert.ok(r.body.retryAfter > 0, JSON.stringify(r.body));
    const item = await t.get('pilots', { id: p.id });
    assert.equal(item.state, 'waiting');
    const nextPollBy = Date.parse(item.nextPollBy);
    assert.ok(
      Math.abs(nextPollBy - (Date.parse(item.lastSeenAt) + r.body.retryAfter * 1000)) < 1000,
      `nextPollBy ${item.nextPollBy} ≈ lastSeenAt ${item.lastSeenAt} + ${r.body.retryAfter} s`,
    );
    assert.equal(item.ipk, undefined, 'a paced pilot is not in the idle index');
  });

  test('retryAfter grows with the idle pilots: all of them together poll about R times a second', async () => {
    const more = Array.from({ length: 39 }, () => new SimPilot(s));
    for (const p of more) assert.equal((await p.register()).status, 201);
    await Promise.all(more.map((p) => p.poll(0)));
    crowd = [...crowd, ...more];
    const n = crowd.length;
    await waitFor(async () => (await s.call('GET', '/summary')).body.pilots.waiting === n, {
      what: `${n} pilots waiting in the summary`,
    });
    // The container remembers the idle count for a few seconds: poll until it has the new one
    // (a pace for 40 pilots is at least 0.5 × 40 / R = 10 s; for one, under 1 s).
    await waitFor(async () => (await crowd[0]!.poll(0)).body.retryAfter >= (0.5 * n) / R, {
      what: 'a pace for the crowd',
      timeoutMs: 15_000,
      intervalMs: 250,
    });
    const paces = (await Promise.all(crowd.map((p) => p.poll(0)))).map((r) => {
      assert.equal(r.body.state, 'no jobs');
      return r.body.retryAfter as number;
    });
    const mean = n / R;
    for (const x of paces) assert.ok(x >= 0.5 * mean && x < 1.5 * mean, `${x} s in [0.5, 1.5) × ${mean} s`);
    const avg = paces.reduce((a, b) => a + b, 0) / n;
    assert.ok(Math.abs(avg - mean) < 0.25 * mean, `mean pace ${avg} s ≈ ${mean} s`);
    assert.ok(new Set(paces).size > n / 2, 'the pilots are spread out, not told the same time');
    const rate = paces.reduce((a, x) => a + 1 / x, 0);
    assert.ok(rate > R * 0.5 && rate < R * 2, `aggregate idle poll rate ${rate.toFixed(2)}/s ≈ ${R}/s`);
  });

  test('the reaper expects a paced pilot’s silence until its next poll, and not beyond', async () => {
    const p = crowd[1]!;
    const r = await p.poll(0);
    const pace = r.body.retryAfter as number;
    assert.ok(pace > 2, `pace ${pace} s`);
    // Past the heartbeat timeout since it was last heard, but before its next poll + timeout.
    await reap(at(HB + 1));
    assert.equal(await pilotState(p), 'waiting', 'not timed out while it waits as told');
    // Its next poll is overdue by more than the heartbeat timeout: it is gone.
    await reap(at(pace + HB + 2));
    assert.equal(await pilotState(p), 'timeout');
  });

  test('a queued job waits for a poll, not in the idle index: the next poll takes it', async () => {
    const p = new SimPilot(s);
    assert.equal((await p.register()).status, 201);
    assert.equal((await p.poll(0)).body.state, 'no jobs');
    const idle = (await t.scan('pilots')).filter((x) => x.ipk !== undefined);
    assert.deepEqual(idle, [], 'no pilot in the idle index');
    const sub = await s.call('POST', '/jobs', {
      body: [{ name: 'paced', jobtype: 'paced', payload: '/bin/true' }],
    });
    assert.equal(sub.status, 201, JSON.stringify(sub.body));
    const id = sub.body[0].id as string;
    const got = await p.poll(0);
    assert.equal(got.body.state, 'dispatched', JSON.stringify(got.body));
    assert.equal(got.body.job.id, id);
    assert.equal((await p.report({ event: 'jobstart', jobId: id })).status, 200);
    assert.equal((await p.report({ event: 'jobstop', jobId: id, exitCode: 0 })).status, 200);
    assert.equal((await s.call('GET', `/jobs/${id}`)).body.state, 'finished');
  });
});
