/**
 * Site requirements in matching (docs/matching.md): a job bound to a site runs only on a pilot of
 * that site — never on a pilot of another site, never on a pilot that names no site — while a
 * job bound to no site runs on any pilot. Checked on both ways a job reaches a pilot: the pilot's
 * own poll (the fast path) and the matchmaker's round for pilots held in long polls. Asserted
 * from the tables: the job's `pilotId`, and the `site` of that pilot's item.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { tableName } from '../../shared/config.ts';
import { db } from '../../shared/db/client.ts';
import { SimPilot } from '../helpers/pilot-sim.ts';
import { startTestStack, streamsIdle, type TestStack, waitFor } from '../helpers/stack.ts';

let s: TestStack;
before(async () => {
  s = await startTestStack({ P3S_REAPER_INTERVAL: '3600' });
});
after(async () => {
  await s.close();
});

type Item = Record<string, any>;
const item = async (table: 'jobs' | 'pilots', id: string): Promise<Item> => {
  const r = await db().send(
    new GetCommand({ TableName: tableName(table), Key: { id }, ConsistentRead: true }),
  );
  assert.ok(r.Item, `${table} item ${id} exists`);
  return r.Item;
};

/** The stream functions (the matchmaker among them) have handled every change so far. */
const settled = () => waitFor(() => streamsIdle(s), { what: 'stream functions idle' });

async function pilot(site?: string): Promise<SimPilot> {
  const p = new SimPilot(s, { site });
  assert.equal((await p.register()).status, 201);
  return p;
}

async function submit(job: Record<string, unknown>): Promise<string> {
  const r = await s.call('POST', '/jobs', {
    body: [{ name: 'site-job', jobtype: 'sites', payload: 'true', ...job }],
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body[0].id;
}

/** Who holds the job, from the tables: its state, its pilot and that pilot's declared site. */
async function holder(jobId: string): Promise<{ state: string; pilotId?: string; site?: string }> {
  const j = await item('jobs', jobId);
  if (!j.pilotId) return { state: j.state };
  return { state: j.state, pilotId: j.pilotId, site: (await item('pilots', j.pilotId)).site };
}

/** A pilot that holds no job: still waiting, no job on its item. */
async function assertIdle(p: SimPilot, why: string) {
  const it = await item('pilots', p.id);
  assert.equal(it.state, 'waiting', `${why}: pilot of site ${p.opts.site ?? '(none)'} is still waiting`);
  assert.equal(it.jobId, undefined, `${why}: pilot of site ${p.opts.site ?? '(none)'} holds no job`);
}

/**
 * Starts a long poll and returns once the pilot is visible as waiting (held in its poll), with
 * the poll's answer to come (wrapped: an async function would wait for a promise it returns).
 */
async function hold(p: SimPilot): Promise<{ answer: ReturnType<SimPilot['poll']> }> {
  const answer = p.poll(15);
  await waitFor(async () => (await item('pilots', p.id)).state === 'waiting', {
    what: `pilot of ${p.opts.site ?? 'no site'} waiting`,
  });
  return { answer };
}

/**
 * Ends the test's pilots. A job a pilot was given is run to its end first: a pilot that stops
 * while holding a job it never started gives it back to the queue (docs/matching.md), where it
 * would be taken by the next test's pilots.
 */
async function stopAll(pilots: SimPilot[]) {
  for (const p of pilots) {
    const jobId = (await item('pilots', p.id)).jobId;
    if (jobId) {
      assert.equal((await p.report({ event: 'jobstart', jobId, pid: 1 })).status, 200);
      assert.equal((await p.report({ event: 'jobstop', jobId, exitCode: 0 })).status, 200);
      assert.equal((await holder(jobId)).state, 'finished');
    }
    assert.equal((await p.report({ event: 'stopped' })).status, 200);
  }
  await settled();
}

describe('site requirements in matching', () => {
  test("a pilot's own poll: a job of site A is not taken by a pilot of B nor by a site-less pilot, and is by a pilot of A", async () => {
    const [a, b, none] = [await pilot('fast-A'), await pilot('fast-B'), await pilot()];
    const job = await submit({ site: 'fast-A' });
    await settled();

    for (const p of [b, none]) {
      const r = await p.poll(0);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.state, 'no jobs', `a pilot of site ${p.opts.site ?? '(none)'} is not given it`);
    }
    // Both are now waiting (a poll without a hold does not enter the idle index, so no round
    // hands them anything): the job is still queued and neither holds a job.
    await settled();
    assert.deepEqual(await holder(job), { state: 'defined' });
    await assertIdle(b, 'after the polls');
    await assertIdle(none, 'after the polls');

    const r = await a.poll(0);
    assert.equal(r.body.state, 'dispatched');
    assert.equal(r.body.job.id, job);
    assert.deepEqual(await holder(job), { state: 'dispatched', pilotId: a.id, site: 'fast-A' });
    await stopAll([a, b, none]);
  });

  test("a pilot's own poll: jobs bound to no site go to any pilot, with a site or without", async () => {
    const jobs = [await submit({}), await submit({}), await submit({})];
    await settled();
    const pilots = [await pilot('fast-A'), await pilot('fast-B'), await pilot()];
    const got: string[] = [];
    for (const p of pilots) {
      const r = await p.poll(0);
      assert.equal(
        r.body.state,
        'dispatched',
        `a pilot of site ${p.opts.site ?? '(none)'} gets an unbound job`,
      );
      got.push(r.body.job.id);
    }
    assert.deepEqual([...got].sort(), [...jobs].sort());
    for (const [i, p] of pilots.entries())
      assert.deepEqual(await holder(got[i]!), { state: 'dispatched', pilotId: p.id, site: p.opts.site });
    await stopAll(pilots);
  });

  test('the matchmaker: pilots of B and without a site, held more recently, are passed over for the waiting pilot of A; with none of A waiting the job stays queued', async () => {
    // Held in long polls: A first, then no site, then B. The round takes the latest hold first
    // (docs/matching.md), so B and then the site-less pilot come before A.
    const a = await pilot('mm-A');
    const none = await pilot();
    const b = await pilot('mm-B');
    const aPoll = (await hold(a)).answer;
    const nonePoll = (await hold(none)).answer;
    const bPoll = (await hold(b)).answer;
    await settled();

    // A job of site A: the round tries B and the site-less pilot first; only the site rule skips them.
    const first = await submit({ site: 'mm-A' });
    const given = await waitFor(async () => (await holder(first)).pilotId && holder(first), {
      what: 'the first job given to a pilot',
    });
    assert.deepEqual(given, { state: 'dispatched', pilotId: a.id, site: 'mm-A' });
    const aAnswer = await aPoll;
    assert.equal(aAnswer.body.state, 'dispatched');
    assert.equal(aAnswer.body.job.id, first);
    await settled();
    await assertIdle(b, 'after the round for the first job');
    await assertIdle(none, 'after the round for the first job');

    // A second job of site A while only B and the site-less pilot wait: the round leaves it queued.
    const second = await submit({ site: 'mm-A' });
    await settled();
    assert.deepEqual(await holder(second), { state: 'defined' });
    await assertIdle(b, 'after the round for the second job');
    await assertIdle(none, 'after the round for the second job');

    // Jobs bound to no site go to the waiting pilots, whatever their site.
    const free = [await submit({}), await submit({})];
    await waitFor(async () => (await Promise.all(free.map(holder))).every((h) => h.pilotId), {
      what: 'both unbound jobs given to pilots',
    });
    const answers = await Promise.all([bPoll, nonePoll]);
    assert.deepEqual(
      answers.map((r) => r.body.state),
      ['dispatched', 'dispatched'],
    );
    assert.deepEqual(answers.map((r) => r.body.job.id).sort(), [...free].sort());
    const held = await Promise.all(free.map(holder));
    assert.deepEqual(
      held.map((h) => h.pilotId).sort(),
      [b.id, none.id].sort(),
      'each unbound job went to one of the waiting pilots',
    );

    // A pilot of site A that turns up takes the job that waited for it.
    const a2 = await pilot('mm-A');
    const r = await a2.poll(0);
    assert.equal(r.body.job?.id, second);
    assert.deepEqual(await holder(second), { state: 'dispatched', pilotId: a2.id, site: 'mm-A' });
    await stopAll([a, b, none, a2]);
  });
});
