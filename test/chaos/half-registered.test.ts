import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { GetCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { tableName } from '../../shared/config.ts';
import { db } from '../../shared/db/client.ts';
import { sweep } from '../../shared/db/sweeper.ts';
import { failRequests, pauseSweeper, resumeSweeper } from '../helpers/faults.ts';
import { SimPilot } from '../helpers/pilot-sim.ts';
import { startTestStack, type TestStack, waitFor } from '../helpers/stack.ts';

/**
 * Half-registered files (issue 12, part 4): a registration that dies after writing the file's
 * item leaves it `new`. The sweeper takes it over after `P3S_DATA_RECLAIM_AFTER` and runs the
 * rules that recorded no outcome — exactly once, even when the dead attempt had already made
 * some of the work, a name-dedupe claim or a window slot, and even when the file is announced
 * again while the sweep runs. Asserted from the tables.
 */
let s: TestStack;
const RECLAIM_AFTER_S = 2;

before(async () => {
  s = await startTestStack({
    P3S_REAPER_INTERVAL: '0.5',
    P3S_SWEEP_INTERVAL: '1',
    P3S_INDEX_LAG_MS: '20',
    P3S_DATA_RECLAIM_AFTER: String(RECLAIM_AFTER_S),
  });
  assert.equal((await s.call('POST', '/datatypes', { body: { name: 'TXT', ext: '.txt' } })).status, 200);
  const dag = JSON.parse(
    readFileSync(join(import.meta.dirname, '..', 'fixtures', 'workflows', 'chaos-pair.json'), 'utf8'),
  );
  assert.equal((await s.call('POST', '/dags', { body: { dag } })).status, 201);
});
after(async () => {
  await s.close();
});
afterEach(async () => {
  await resumeSweeper();
});

const templates = [
  { name: 'one', jobtype: 'arrive', payload: '/bin/true' },
  { name: 'two', jobtype: 'arrive', payload: '/bin/true' },
];

async function addRule(body: Record<string, unknown>): Promise<void> {
  const r = await s.call('POST', '/rules', { body });
  assert.equal(r.status, 201, JSON.stringify(r.body));
}

const announce = (location: string) => s.call('POST', '/data', { body: { location } });
const dataItem = async (id: string) =>
  (await db().send(new GetCommand({ TableName: tableName('data'), Key: { id }, ConsistentRead: true }))).Item;

/** Every item of a table with `attr = value` (a test-side scan of this file's own small tables). */
async function itemsWith(entity: 'jobs' | 'workflows', attr: string, value: string) {
  const out: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const r = await db().send(
      new ScanCommand({
        TableName: tableName(entity),
        ConsistentRead: true,
        FilterExpression: '#a = :v',
        ExpressionAttributeNames: { '#a': attr },
        ExpressionAttributeValues: { ':v': value },
        ExclusiveStartKey: start,
      }),
    );
    out.push(...(r.Items ?? []));
    start = r.LastEvaluatedKey;
  } while (start);
  return out;
}

/** The id the server gives a location (read back from a listing, never computed here). */
async function idOf(location: string): Promise<string> {
  const r = await s.call('GET', `/data?location=${encodeURIComponent(location)}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return String(r.body.id ?? r.body.data?.[0]?.id);
}

describe('half-registered files', () => {
  test('a registration that died creating its jobs: the sweep creates them once, and the name claim holds', async () => {
    await addRule({
      name: 'a-dedupe',
      match: { pattern: 'dd_*.dat' },
      action: { jobs: templates },
      dedupe: 'name',
    });
    await pauseSweeper();
    // The registration dies writing its jobs (after claiming the name).
    const fault = failRequests(
      (cmd, input) => cmd === 'PutItem' && input.TableName === tableName('jobs'),
      templates.length,
    );
    const first = await announce('/data/in/dd_1.dat');
    fault.disarm();
    const crashedAt = Date.now();
    assert.equal(first.status, 500);
    assert.equal(fault.fired, templates.length);
    const id = await idOf('/data/in/dd_1.dat');
    assert.equal((await dataItem(id))?.state, 'new', 'left behind half-registered');
    assert.deepEqual(await itemsWith('jobs', 'dataId', id), [], 'no job made');

    await resumeSweeper();
    const resumedAt = Date.now();
    const done = await waitFor(
      async () => {
        const it = await dataItem(id);
        return it?.state !== 'new' && it;
      },
      { timeoutMs: 15_000, what: 'the sweep to finish the registration' },
    );
    process.stdout.write(
      `# half-registered file: finished ${Date.now() - crashedAt} ms after the crash (grace ${RECLAIM_AFTER_S} s; ${Date.now() - resumedAt} ms after the sweeper resumed)\n`,
    );
    assert.equal(done.state, 'triggered');
    const triggers = done.triggers as { rule: string; outcome: string; jobs: string[] }[];
    assert.deepEqual(
      triggers.map((t) => [t.rule, t.outcome, t.jobs.length]),
      [['a-dedupe', 'jobs', 2]],
    );
    const jobs = await itemsWith('jobs', 'dataId', id);
    assert.deepEqual(jobs.map((j) => j.id).sort(), [...triggers[0]!.jobs].sort(), 'each job once');
    assert.deepEqual(jobs.map((j) => j.name).sort(), ['one', 'two']);
    assert.ok(jobs.every((j) => j.state === 'defined'));

    // The name was claimed by the dead attempt, for this file: another file of that name is a duplicate.
    const other = await announce('/data/elsewhere/dd_1.dat');
    assert.equal(other.status, 200);
    assert.deepEqual(
      other.body.results[0].triggers.map((t: { outcome: string }) => t.outcome),
      ['duplicate'],
    );
    assert.deepEqual(other.body.results[0].jobs, []);
  });

  test('work made but not recorded, then a sweep racing re-announcements: one takeover, nothing made twice', async () => {
    // One file per hour may trigger b1: the dead attempt took that slot.
    await addRule({
      name: 'b1-jobs',
      match: { pattern: 'race_*.dat' },
      // Ahead of anything an earlier test left queued, for the pilot below.
      action: { jobs: templates.map((t) => ({ ...t, priority: 100 })) },
      limit: { files: 1, window: 3600 },
    });
    await addRule({
      name: 'b2-workflow',
      match: { pattern: 'race_*.dat' },
      action: { workflow: { dag: 'chaos-pair' } },
    });
    await pauseSweeper();
    // b1's jobs are made; recording its outcome is the write that dies; b2 never runs.
    const fault = failRequests((cmd, input) => cmd === 'UpdateItem' && input.TableName === tableName('data'));
    const location = '/data/in/race_1.dat';
    const first = await announce(location);
    fault.disarm();
    const crashedAt = Date.now();
    assert.equal(first.status, 500);
    const id = await idOf(location);
    assert.equal((await dataItem(id))?.state, 'new');
    const made = await itemsWith('jobs', 'rule', 'b1-jobs');
    assert.equal(made.length, 2, 'the dead attempt made b1’s jobs');
    // One of them is dispatched already: a retry must not write it again (it would run twice).
    const pilot = new SimPilot(s);
    assert.equal((await pilot.register()).status, 201);
    const taken = await waitFor(
      async () => {
        const r = await pilot.poll();
        return r.body.state === 'dispatched' && String(r.body.job.id);
      },
      { what: 'a pilot to take one of b1’s jobs' },
    );

    // Past the grace, five re-announcements and three sweeps at once.
    await waitFor(() => Date.now() > crashedAt + RECLAIM_AFTER_S * 1000 + 100, {
      timeoutMs: 10_000,
      what: 'the grace to pass',
    });
    const [answers, sweeps] = await Promise.all([
      Promise.all(Array.from({ length: 5 }, () => announce(location))),
      Promise.all(Array.from({ length: 3 }, () => sweep())),
    ]);
    for (const a of answers) assert.equal(a.status, 200, JSON.stringify(a.body));
    const takeovers =
      answers.filter((a) => a.body.results[0].created).length +
      sweeps.reduce((n, r) => n + r.filesResumed, 0);
    assert.equal(takeovers, 1, 'exactly one caller took the file over');

    const done = (await dataItem(id))!;
    assert.equal(done.state, 'triggered');
    const triggers = done.triggers as {
      rule: string;
      outcome: string;
      jobs?: string[];
      workflowId?: string;
    }[];
    assert.deepEqual(
      triggers.map((t) => [t.rule, t.outcome]),
      [
        ['b1-jobs', 'jobs'],
        ['b2-workflow', 'workflow'],
      ],
      'b1 is found done (not `limited`: its slot went to the dead attempt), b2 runs',
    );
    assert.deepEqual([...triggers[0]!.jobs!].sort(), made.map((j) => j.id).sort());
    const b1 = await itemsWith('jobs', 'rule', 'b1-jobs');
    assert.equal(b1.length, 2, 'b1’s jobs once');
    const dispatched = b1.find((j) => j.id === taken)!;
    assert.equal(dispatched.state, 'dispatched', 'the job the pilot holds was left alone');
    assert.equal(dispatched.pilotId, pilot.id);
    await pilot.report({ event: 'stopped' });
    const workflows = await itemsWith('workflows', 'dataId', id);
    assert.deepEqual(
      workflows.map((w) => w.id),
      [triggers[1]!.workflowId],
      'one workflow',
    );
    assert.equal((await itemsWith('jobs', 'workflowId', String(triggers[1]!.workflowId))).length, 2);
  });

  test('a workflow made but not recorded is found by the takeover, not made again', async () => {
    await addRule({
      name: 'c-workflow',
      match: { pattern: 'wfc_*.dat' },
      action: { workflow: { dag: 'chaos-pair' } },
    });
    await pauseSweeper();
    // The workflow is made and started; recording the outcome (the file's last write) dies.
    const fault = failRequests((cmd, input) => cmd === 'UpdateItem' && input.TableName === tableName('data'));
    const location = '/data/in/wfc_1.dat';
    assert.equal((await announce(location)).status, 500);
    fault.disarm();
    const crashedAt = Date.now();
    const id = await idOf(location);
    const before = await itemsWith('workflows', 'dataId', id);
    assert.equal(before.length, 1, 'the dead attempt made the workflow');

    await waitFor(() => Date.now() > crashedAt + RECLAIM_AFTER_S * 1000 + 100, {
      timeoutMs: 10_000,
      what: 'the grace to pass',
    });
    assert.equal((await sweep()).filesResumed, 1);
    const done = (await dataItem(id))!;
    assert.equal(done.state, 'triggered');
    assert.deepEqual(done.triggers, [{ rule: 'c-workflow', outcome: 'workflow', workflowId: before[0]!.id }]);
    assert.equal((await itemsWith('workflows', 'dataId', id)).length, 1, 'one workflow');
    assert.equal((await itemsWith('jobs', 'workflowId', String(before[0]!.id))).length, 2, 'its jobs once');
  });
});
