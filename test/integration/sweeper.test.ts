import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { tableName } from '../../shared/config.ts';
import { db } from '../../shared/db/client.ts';
import { sweep, sweepIfDue } from '../../shared/db/sweeper.ts';
import { countDynamo, type DynamoCounter } from '../helpers/dynamo-counter.ts';
import { SimPilot } from '../helpers/pilot-sim.ts';
import { startTestStack, type TestStack, waitFor } from '../helpers/stack.ts';

/**
 * The sweeper (shared/db/sweeper.ts) on its own, the reaper not running: an idle sweep reads
 * only what can be stuck (in-progress workflows, files being registered, jobs in live states)
 * through sparse or state indexes, so it costs the same requests and read units after a history
 * of finished jobs, processed files and ended workflows as before it; a reaper run with no sweep
 * due costs nothing; slots a recount frees are matched at once.
 */
let s: TestStack;
let counter: DynamoCounter;
let pilot: SimPilot;

before(async () => {
  // No reaper run within the hour: this file calls the sweeper itself.
  s = await startTestStack({
    P3S_REAPER_INTERVAL: '3600',
    P3S_SWEEP_INTERVAL: '3600',
    P3S_INDEX_LAG_MS: '0',
  });
  counter = countDynamo(s.tablePrefix);
  assert.equal((await s.call('POST', '/datatypes', { body: { name: 'TXT', ext: '.txt' } })).status, 200);
  const dag = JSON.parse(
    readFileSync(join(import.meta.dirname, '..', 'fixtures', 'workflows', 'chaos-pair.json'), 'utf8'),
  );
  assert.equal((await s.call('POST', '/dags', { body: { dag } })).status, 201);
  const rule = {
    name: 'hist',
    match: { pattern: 'hist_*.dat' },
    action: { jobs: [{ name: 'h', jobtype: 'chaos', payload: '/bin/true' }] },
  };
  assert.equal((await s.call('POST', '/rules', { body: rule })).status, 201);
  pilot = new SimPilot(s);
  assert.equal((await pilot.register()).status, 201);
});
after(async () => {
  await s.close();
});

/** Runs every queued job on the simulated pilot until `done` says the history is complete. */
async function runAll(done: () => Promise<boolean>): Promise<void> {
  await waitFor(
    async () => {
      const r = await pilot.poll();
      if (r.body.state === 'dispatched') {
        const jobId = r.body.job.id;
        assert.equal((await pilot.report({ event: 'jobstart', jobId })).status, 200);
        assert.equal((await pilot.report({ event: 'jobstop', jobId, exitCode: 0 })).status, 200);
        return false;
      }
      return done();
    },
    { timeoutMs: 60_000, intervalMs: 10, what: 'the history to be made' },
  );
}

/** Makes `n` files (each triggering one job) and `n` two-job workflows, and runs them all. */
async function history(n: number, tag: string): Promise<void> {
  const files = Array.from({ length: n }, (_, i) => ({ location: `/data/${tag}/hist_${i}.dat` }));
  assert.equal((await s.call('POST', '/data', { body: files })).status, 200);
  const workflows: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await s.call('POST', '/workflows', { body: { dag: 'chaos-pair', state: 'defined' } });
    assert.equal(r.status, 201);
    workflows.push(r.body.id);
  }
  await runAll(async () => {
    for (const id of workflows)
      if ((await s.call('GET', `/workflows/${id}`)).body.state !== 'finished') return false;
    const jobs = (await s.call('GET', '/summary')).body.jobs;
    return !jobs.defined && !jobs.dispatched && !jobs.running;
  });
}

async function idleSweep(): Promise<{ calls: string[]; units: number }> {
  counter.reset();
  const rep = await sweep();
  assert.equal(rep.workflowsChecked, 0, 'no workflow in progress');
  const calls = counter
    .calls()
    .filter((c) => c.fn === '-')
    .map((c) => `${c.command} ${c.table} ×${c.count}`)
    .sort();
  const units = counter
    .tally()
    .filter((t) => t.fn === '-')
    .reduce((u, t) => u + t.billedReadUnits, 0);
  return { calls, units };
}

describe('the sweeper', () => {
  test('an idle sweep costs the same requests and read units after a history as before it', async () => {
    await history(1, 'warm'); // every counter item and job type exists before the first measure
    const before = await idleSweep();
    await history(30, 'many');
    const afterHistory = await idleSweep();
    process.stdout.write(
      `# idle sweep: ${before.calls.reduce((n, c) => n + Number(c.split('×')[1]), 0)} requests, ${before.units} billed read units: ${before.calls.join(', ')}\n`,
    );
    assert.deepEqual(afterHistory, before);
  });

  test('a reaper run with no sweep due makes no request for it', async () => {
    assert.ok(await sweepIfDue(), 'the first one sweeps and takes the lease for an hour');
    counter.reset();
    assert.equal(await sweepIfDue(), undefined);
    assert.deepEqual(counter.calls(), [], 'answered from this container’s memory');
  });

  test('slots freed by a recount are matched at once (no job changed, so no stream wakes the matchmaker)', async () => {
    assert.equal((await s.call('PUT', '/jobtypes/kick', { body: { limit: 1 } })).status, 200);
    await db().send(
      new UpdateCommand({
        TableName: tableName('jobtypes'),
        Key: { name: 'kick' },
        UpdateExpression: 'SET inFlight = :one',
        ExpressionAttributeValues: { ':one': 1 },
      }),
    );
    // An idle pilot of a site of its own, holding a poll, and a job for that site the drifted
    // counter blocks.
    const idle = new SimPilot(s, { site: 'kicksite' });
    assert.equal((await idle.register()).status, 201);
    const held = idle.poll(20);
    await waitFor(async () => (await s.call('GET', `/pilots/${idle.id}`)).body.state === 'waiting', {
      what: 'the pilot to hold its poll',
    });
    const r = await s.call('POST', '/jobs', {
      body: [{ name: 'k', jobtype: 'kick', payload: '/bin/true', site: 'kicksite' }],
    });
    assert.equal(r.status, 201);
    const id = r.body[0].id;
    // The matchmaker's round for the new job has run and lost on the cap.
    await waitFor(async () => counter.calls().some((c) => c.fn === 'matchmaker'), {
      what: 'the matchmaker to try',
    });
    assert.equal((await s.call('GET', `/jobs/${id}`)).body.state, 'defined');

    const rep = await sweep();
    assert.equal(rep.inFlightFixed, 1);
    const job = (await s.call('GET', `/jobs/${id}`)).body;
    assert.equal(job.state, 'dispatched', 'matched by the sweep itself');
    assert.equal(job.pilotId, idle.id);
    const answer = await held;
    assert.equal(answer.body.state, 'dispatched');
    assert.equal(answer.body.job.id, id);
  });
});
