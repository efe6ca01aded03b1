/**
 * No starvation by caps (issue "Nothing lost, nothing starved", scenario 1): a type at its cap
 * never hides runnable work of other types — neither from a pilot's own poll nor from the
 * matchmaker — and a poll reads none of the capped jobs queued, however many there are.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { dynamo } from '../../shared/db/client.ts';
import { Tables } from '../helpers/chaos.ts';
import { SimPilot } from '../helpers/pilot-sim.ts';
import { startTestStack, type TestStack, waitFor } from '../helpers/stack.ts';

let s: TestStack;
let t: Tables;
/** Job types of the items each queue-index query returned, while `watching`. */
let seen: string[] = [];
let watching = false;

before(async () => {
  s = await startTestStack({ P3S_REAPER_INTERVAL: '3600', P3S_HEARTBEAT_TIMEOUT: '600' });
  t = new Tables(s.dynamoEndpoint, s.tablePrefix);
  dynamo().middlewareStack.add(
    (next, context) => async (args) => {
      const out = await next(args);
      const input = args.input as { IndexName?: string };
      if (watching && context.commandName === 'QueryCommand' && input.IndexName === 'queue') {
        const items = (out.output as { Items?: Record<string, { S?: string }>[] }).Items ?? [];
        seen.push(...items.map((i) => String(i.jobtype?.S)));
      }
      return out;
    },
    { step: 'initialize', name: 'chaosQueueReads' },
  );
});
after(async () => {
  dynamo().middlewareStack.remove('chaosQueueReads');
  await t.drop().catch(() => {});
  await s.close();
});

async function submit(jobs: unknown[]): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < jobs.length; i += 500) {
    const r = await s.call('POST', '/jobs', { body: jobs.slice(i, i + 500) });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    ids.push(...r.body.map((j: { id: string }) => j.id));
  }
  return ids;
}
const many = (type: string, n: number, priority = 5) =>
  Array.from({ length: n }, (_, i) => ({ name: `${type}-${i}`, jobtype: type, payload: 'true', priority }));

/** Puts `type` at its cap of 1: one job of it running on a pilot of its own. */
async function fillCap(type: string): Promise<SimPilot> {
  assert.equal((await s.call('PUT', `/jobtypes/${type}`, { body: { limit: 1 } })).status, 200);
  const [id] = await submit([{ name: `${type}-running`, jobtype: type, payload: 'true', priority: 9 }]);
  const p = new SimPilot(s);
  await p.register();
  const r = await p.poll(0);
  assert.equal(r.body.job?.id, id);
  assert.equal((await p.report({ event: 'jobstart', jobId: id })).status, 200);
  return p;
}

const inFlight = async (type: string) => Number((await t.get('jobtypes', { name: type }))?.inFlight ?? 0);

describe('a capped type never starves the others', () => {
  test("pilots' own polls: runnable jobs behind 40 queued jobs of a full type start, in priority order", async () => {
    await fillCap('A1');
    await submit(many('A1', 40));
    // Queued after the capped jobs, one at the capped jobs' priority and one below it.
    const [low] = await submit([{ name: 'b-low', jobtype: 'B1', payload: 'true', priority: 1 }]);
    const [same] = await submit([{ name: 'b-same', jobtype: 'B1', payload: 'true', priority: 5 }]);
    const pilots = [new SimPilot(s), new SimPilot(s), new SimPilot(s)];
    for (const p of pilots) await p.register();
    const got: (string | undefined)[] = [];
    for (const p of pilots) got.push((await p.poll(0)).body.job?.id);
    assert.deepEqual(got, [same, low, undefined], 'the runnable jobs, higher priority first; nothing of A1');
    assert.equal(await inFlight('A1'), 1, 'the cap held');
    assert.equal(
      (await t.scan('jobs')).filter((j) => j.jobtype === 'A1' && j.state === 'defined').length,
      40,
    );
  });

  test('the matchmaker: a job submitted while pilots wait behind 40 queued jobs of a full type goes to one of them', async () => {
    await fillCap('A2');
    const waiting = [new SimPilot(s), new SimPilot(s)];
    for (const p of waiting) await p.register();
    const answers = waiting.map((p) => p.poll(20));
    await waitFor(async () => (await t.scan('pilots')).filter((p) => p.ipk).length === 2, {
      what: 'two held polls',
    });
    await submit(many('A2', 40));
    const [b] = await submit([{ name: 'b', jobtype: 'B2', payload: 'true', priority: 1 }]);
    const first = await Promise.race(answers);
    assert.equal(first.body.job?.id, b, 'a waiting pilot was handed the runnable job');
    assert.equal(await inFlight('A2'), 1, 'the cap held');
    // Release the other held poll (a drain answers it at once).
    for (const p of waiting) await s.call('POST', '/pilots/kill', { body: { id: p.id, mode: 'drain' } });
    const all = await Promise.all(answers);
    assert.equal(all.filter((a) => a.body.job?.id === b).length, 1, 'handed to exactly one');
  });

  test("the matchmaker, on a freed slot: pilots waiting get the freed type's job past 40 queued jobs of a full type", async () => {
    await fillCap('A5');
    await submit(many('A5', 40));
    const holder = await fillCap('B5'); // B5 full too: its queued job cannot start yet
    const [b] = await submit([{ name: 'b5', jobtype: 'B5', payload: 'true', priority: 1 }]);
    const waiting = [new SimPilot(s), new SimPilot(s)];
    for (const p of waiting) await p.register();
    const answers = waiting.map((p) => p.poll(20));
    await waitFor(async () => (await t.scan('pilots')).filter((p) => p.ipk).length === 2, {
      what: 'two held polls',
    });
    // B5's running job ends: its slot frees, and only the matchmaker's round can pair the queued
    // job (nobody polls meanwhile; the round has no "fresh" job record to go by).
    const running = (await t.scan('jobs')).find((j) => j.jobtype === 'B5' && j.state === 'running');
    assert.equal((await holder.report({ event: 'jobstop', jobId: running.id, exitCode: 0 })).status, 200);
    const first = await Promise.race(answers);
    assert.equal(first.body.job?.id, b);
    assert.equal(await inFlight('A5'), 1);
    for (const p of waiting) await s.call('POST', '/pilots/kill', { body: { id: p.id, mode: 'drain' } });
    await Promise.all(answers);
  });

  test('with 2,000 jobs of a full type queued, a poll reads none of them and takes the runnable job', async () => {
    await fillCap('A3');
    const p = new SimPilot(s);
    await p.register();
    const poll = async () => {
      seen = [];
      watching = true;
      try {
        return await p.poll(0);
      } finally {
        watching = false;
      }
    };
    await submit(many('A3', 10));
    assert.equal((await poll()).body.state, 'no jobs');
    // A container's view of the caps may be up to a second old: then it reads at most as many
    // of the type's jobs as it believes there are free slots (here 1), never more.
    const fewRead = seen.filter((x) => x === 'A3').length;
    assert.ok(fewRead <= 1, `with 10 queued, ${fewRead} read`);
    await submit(many('A3', 1990));
    const [b] = await submit([{ name: 'b', jobtype: 'B3', payload: 'true', priority: -5 }]);
    const r = await poll();
    assert.equal(r.body.job?.id, b, 'the runnable job was found');
    const manyRead = seen.filter((x) => x === 'A3').length;
    assert.ok(manyRead <= 1, `with 2,000 queued, ${manyRead} read`);
    assert.equal(await inFlight('A3'), 1);
  });

  test('a type capped while jobs of it are queued moves them to its own queue: they stop hiding others', async () => {
    // Queued first, uncapped: they sit in the shared queue at a high priority.
    await submit(many('A4', 30, 50));
    const p0 = new SimPilot(s);
    await p0.register();
    const running = (await p0.poll(0)).body.job;
    assert.equal(running?.jobtype, 'A4');
    await p0.report({ event: 'jobstart', jobId: running.id });
    // Now the cap: the 29 queued jobs move to A4's own partitions, and A4 is full.
    assert.equal((await s.call('PUT', '/jobtypes/A4', { body: { limit: 1 } })).status, 200);
    const jobs = await t.scan('jobs');
    const queued = jobs.filter((j) => j.jobtype === 'A4' && j.state === 'defined');
    assert.equal(queued.length, 29);
    assert.ok(
      queued.every((j) => j.qpk === 'QT#A4#*'),
      'all moved to the own partition',
    );
    assert.equal((await t.get('jobtypes', { name: 'A4' })).migrating, undefined);
    const [b] = await submit([{ name: 'b', jobtype: 'B4', payload: 'true', priority: 0 }]);
    const p1 = new SimPilot(s);
    await p1.register();
    assert.equal((await p1.poll(0)).body.job?.id, b);
    // The cap removed: the type keeps its own queue, which is read again, in priority order.
    assert.equal((await s.call('PUT', '/jobtypes/A4', { body: { limit: null } })).status, 200);
    const p2 = new SimPilot(s);
    await p2.register();
    assert.equal((await p2.poll(0)).body.job?.jobtype, 'A4');
  });
});
