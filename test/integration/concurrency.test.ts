import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SimPilot } from '../helpers/pilot-sim.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

let s: TestStack;
before(async () => {
  s = await startTestStack();
});
after(async () => {
  await s.close();
});

const PILOTS = 50;
const JOBS = 600;
const CAPS: Record<string, number | null> = { capped3: 3, capped7: 7, free: null };

describe('racing pilots', () => {
  test(`${PILOTS} pilots race for ${JOBS} jobs: no double dispatch, caps held, every job ends once`, async () => {
    for (const [name, limit] of Object.entries(CAPS)) {
      if (limit !== null)
        assert.equal((await s.call('PUT', `/jobtypes/${name}`, { body: { limit } })).status, 200);
    }
    const types = Object.keys(CAPS);
    const jobs = Array.from({ length: JOBS }, (_, i) => ({
      name: `race-${i}`,
      jobtype: types[i % types.length],
      payload: '/bin/true',
      priority: i % 5,
    }));
    const ids: string[] = [];
    for (let i = 0; i < jobs.length; i += 250) {
      const r = await s.call('POST', '/jobs', { body: jobs.slice(i, i + 250) });
      assert.equal(r.status, 201);
      ids.push(...r.body.map((j: { id: string }) => j.id));
    }

    // Caps are checked from what the pilots saw, not from the server's own counter: each job's
    // in-flight interval as a pilot records it — from receiving the dispatch to sending its
    // jobstop — lies inside the real one (claim committed → end committed), so overlaps of the
    // recorded intervals can only undercount: any overlap above a cap is a real violation.
    const intervals: { type: string; from: number; to: number }[] = [];
    const receivedBy = new Map<string, Set<string>>();
    let ended = 0;
    const pilots = Array.from({ length: PILOTS }, () => new SimPilot(s));
    const deadline = Date.now() + 720_000;
    await Promise.all(
      pilots.map(async (p) => {
        assert.equal((await p.register()).status, 201);
        while (ended < JOBS && Date.now() < deadline) {
          const r = await p.poll(1);
          assert.equal(r.status, 200, JSON.stringify(r.body));
          if (r.body.state !== 'dispatched') continue;
          const from = performance.now();
          const id = r.body.job.id as string;
          const set = receivedBy.get(id) ?? new Set<string>();
          set.add(p.id);
          receivedBy.set(id, set);
          assert.equal((await p.report({ event: 'jobstart', jobId: id })).status, 200);
          // The payload's run time (simulated): long enough that capped types really fill up, and
          // for the free type long enough that its jobs pile up past the caps whatever the
          // dispatch rate of the machine (at 20 ms, a loaded CI machine saw only 6 at once).
          const runMs = r.body.job.jobtype === 'free' ? 600 : 20;
          await new Promise((res) => setTimeout(res, runMs));
          intervals.push({ type: r.body.job.jobtype, from, to: performance.now() });
          assert.equal((await p.report({ event: 'jobstop', jobId: id, exitCode: 0 })).status, 200);
          ended++;
        }
      }),
    );

    assert.equal(ended, JOBS, 'every job was run');
    assert.equal(receivedBy.size, JOBS);
    for (const [id, set] of receivedBy) assert.equal(set.size, 1, `job ${id} went to ${set.size} pilots`);

    // From the tables: each job finished exactly once, on the pilot that received it.
    const states = new Map<string, number>();
    for (const id of ids) {
      const j = (await s.call('GET', `/jobs/${id}`)).body;
      states.set(j.state, (states.get(j.state) ?? 0) + 1);
      assert.ok(receivedBy.get(id)?.has(j.pilotId), `job ${id} ended on the pilot it was dispatched to`);
    }
    assert.deepEqual(Object.fromEntries(states), { finished: JOBS });
    const jobcount = (await s.call('GET', `/pilots?limit=1000`)).body.pilots.reduce(
      (a: number, p: { jobcount: number }) => a + p.jobcount,
      0,
    );
    assert.equal(jobcount, JOBS, 'pilots ran exactly as many jobs as there are');

    const maxSeen: Record<string, number> = {};
    for (const type of types) {
      // Sweep the recorded intervals: +1 at each start, −1 at each end (ends first on a tie).
      const events = intervals
        .filter((x) => x.type === type)
        .flatMap((x) => [
          [x.from, 1],
          [x.to, -1],
        ])
        .sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
      let now = 0;
      for (const [, d] of events) {
        now += d!;
        maxSeen[type] = Math.max(maxSeen[type] ?? 0, now);
      }
    }
    const final = (await s.call('GET', '/jobtypes')).body.jobtypes;
    for (const t of final) {
      assert.equal(t.inFlight, 0, `${t.name}: all cap slots returned`);
      const cap = CAPS[t.name];
      if (cap)
        assert.ok(
          (maxSeen[t.name] ?? 0) <= cap,
          `${t.name}: ${maxSeen[t.name]} in flight at once > cap ${cap}`,
        );
    }
    // The race was real: the capped types were kept at their caps, the free one went past them.
    assert.equal(maxSeen.capped3, 3);
    assert.ok((maxSeen.free ?? 0) > 7, `the uncapped type ran ${maxSeen.free} at once`);
    process.stdout.write(
      `# max in flight recorded: ${JSON.stringify(maxSeen)} (caps ${JSON.stringify(CAPS)})\n`,
    );
  });
});
