/**
 * Pilots that poll at the same moment all read the same queue head. Once claims start losing
 * races, each pilot tries a random job of the head's priority class instead of all colliding on
 * the first one — but never a lower priority while a higher one is queued.
 */
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

describe('racing fast-path claims', () => {
  test('20 pilots polling at once take high-priority jobs only, while any is queued', async () => {
    const jobs = [
      ...Array.from({ length: 20 }, (_, i) => ({
        name: `low-${i}`,
        jobtype: 'default',
        payload: '/bin/true',
        priority: 1,
      })),
      ...Array.from({ length: 20 }, (_, i) => ({
        name: `high-${i}`,
        jobtype: 'default',
        payload: '/bin/true',
        priority: 5,
      })),
    ];
    assert.equal((await s.call('POST', '/jobs', { body: jobs })).status, 201);
    const pilots = Array.from({ length: 20 }, () => new SimPilot(s));
    for (const p of pilots) assert.equal((await p.register()).status, 201);
    // One round: all 20 poll at once (wait 0: the fast path only). At most 6 tries each, all in
    // the top class, so nobody may fall through to a low-priority job while highs are queued.
    const answers = await Promise.all(pilots.map((p) => p.poll(0)));
    const got: string[] = [];
    for (const a of answers) {
      assert.equal(a.status, 200, JSON.stringify(a.body));
      if (a.body.state === 'dispatched') got.push(a.body.job.name);
    }
    assert.ok(got.length > 0, 'some claims succeeded');
    const low = got.filter((n) => n.startsWith('low-'));
    assert.deepEqual(low, [], `low-priority jobs taken while high ones were queued: ${got.join(' ')}`);
    assert.equal(new Set(got).size, got.length, 'no job was given twice');
  });
});
