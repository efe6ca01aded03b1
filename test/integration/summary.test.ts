import assert from 'node:assert/strict';
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

describe('summary', () => {
  test('counts per state, per job type and latency follow the jobs without scanning them', async () => {
    await s.call('PUT', '/jobtypes/dqm', { body: { limit: 4, deadline: 600 } });
    const jobs = (
      await s.call('POST', '/jobs', {
        body: [
          { name: 'a', jobtype: 'dqm', payload: '/bin/true' },
          { name: 'b', jobtype: 'dqm', payload: '/bin/true' },
          { name: 'c', jobtype: 'other', payload: '/bin/true' },
        ],
      })
    ).body;
    await waitFor(async () => (await s.call('GET', '/summary')).body.jobs.defined === 3, {
      what: '3 queued in the summary',
    });
    const p = new SimPilot(s);
    await p.register();
    const got = (await p.poll()).body.job;
    await p.report({ event: 'jobstart', jobId: got.id });
    await p.report({ event: 'jobstop', jobId: got.id, exitCode: 0 });
    const sum = await waitFor(
      async () => {
        const r = (await s.call('GET', '/summary')).body;
        return r.jobs.finished === 1 && r.jobs.defined === 2 ? r : undefined;
      },
      { what: 'summary after one job ran' },
    );
    assert.equal(sum.pilots.active, 1);
    const dqm = sum.jobtypes.find((t: { name: string }) => t.name === 'dqm');
    assert.equal(dqm.limit, 4);
    assert.equal(dqm.deadline, 600);
    assert.equal(dqm.inFlight, 0);
    assert.equal(dqm.queued + (got.jobtype === 'dqm' ? 1 : 0), 2);
    assert.equal(sum.latency.last5min.jobs, 1);
    assert.ok(sum.latency.last5min.p50Ms > 0);
    assert.equal(sum.throughput.at(-1).finished + (sum.throughput.at(-2)?.finished ?? 0), 1);
    assert.equal(jobs.length, 3);
  });
});
