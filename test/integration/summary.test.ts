import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { countDynamo, type DynamoCounter } from '../helpers/dynamo-counter.ts';
import { SimPilot } from '../helpers/pilot-sim.ts';
import { startTestStack, type TestStack, waitFor } from '../helpers/stack.ts';

let s: TestStack;
let counter: DynamoCounter;
before(async () => {
  s = await startTestStack();
  counter = countDynamo(s.tablePrefix);
});

/**
 * The DynamoDB requests one `GET /summary` makes, as `command table` → count (token reads left
 * out: they are cached per container, so whether a request pays one depends on timing).
 */
async function summaryRequests(): Promise<Record<string, number>> {
  counter.reset();
  assert.equal((await s.call('GET', '/summary')).status, 200);
  const out: Record<string, number> = {};
  for (const c of counter.calls()) {
    if (c.fn !== 'summary' || c.table === 'tokens') continue;
    out[`${c.command} ${c.table}`] = (out[`${c.command} ${c.table}`] ?? 0) + c.count;
  }
  return out;
}

/**
 * What the summary reads, whatever the number of jobs: the counters (one Query of the stats
 * table), the latency and throughput minutes (one BatchGetItem each), and the job types' settings
 * (a Scan of the jobtypes table: configuration, a handful of items). Never the jobs, pilots,
 * data or workflows tables.
 */
const SUMMARY_READS = {
  'Query stats': 1,
  'BatchGetItem stats': 2,
  'Scan jobtypes': 1,
};
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
    assert.deepEqual(await summaryRequests(), SUMMARY_READS, 'read from counters, no scan of jobs');
  });

  test('the summary reads counters, not jobs: the same few requests with 3 jobs or 250 more', async () => {
    assert.deepEqual(await summaryRequests(), SUMMARY_READS);
    const before = (await s.call('GET', '/summary')).body.jobs.defined as number;
    const more = Array.from({ length: 250 }, (_, i) => ({
      name: `many-${i}`,
      jobtype: 'many',
      payload: '/bin/true',
      state: 'held',
    }));
    const submitted = await s.call('POST', '/jobs', { body: more });
    assert.equal(submitted.status, 201, JSON.stringify(submitted.body).slice(0, 500));
    await waitFor(async () => (await s.call('GET', '/summary')).body.jobs.defined === before + 250, {
      what: '250 more queued in the summary',
    });
    assert.deepEqual(await summaryRequests(), SUMMARY_READS);
  });
});
