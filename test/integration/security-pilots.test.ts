import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
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

const SECRET = `s3cr3t-${randomBytes(8).toString('hex')}`;

let sites = 0;
/** A pilot of a site of its own: its site's jobs go to it, not to idle pilots of other tests. */
const sitePilot = () => new SimPilot(s, { site: `scope-${++sites}` });

/** A job dispatched to `owner` (registered and polled), with a secret in its env. */
async function dispatchedTo(owner: SimPilot) {
  const sub = await s.call('POST', '/jobs', {
    body: [
      { name: 'scoped', jobtype: 'default', payload: '/bin/true', env: { SECRET }, site: owner.opts.site },
    ],
  });
  assert.equal(sub.status, 201);
  assert.equal((await owner.register()).status, 201);
  const poll = await owner.poll();
  assert.equal(poll.body.state, 'dispatched');
  assert.equal(poll.body.job.id, sub.body[0].id);
  return sub.body[0].id as string;
}

/** The job and its pilot as an admin sees them. */
async function state(jobId: string, pilotId: string) {
  return {
    job: (await s.call('GET', `/jobs/${jobId}`)).body,
    pilot: (await s.call('GET', `/pilots/${pilotId}`)).body,
  };
}

/** Calls a pilot route as `pilotId`, with the pilot token and the given key (or none). */
function asPilot(pilotId: string, op: 'poll' | 'report', key: string | undefined, body: unknown) {
  return s.call('POST', `/pilots/${pilotId}/${op}`, {
    token: s.pilotToken,
    headers: key ? { 'x-p3s-pilot-key': key } : {},
    body,
  });
}

describe('pilot scoping', () => {
  test('a pilot with its own key registers, gets its job with the env, and runs it to the end', async () => {
    const p = sitePilot();
    const jobId = await dispatchedTo(p);
    assert.equal((await p.report({ event: 'jobstart', jobId })).status, 200);
    assert.equal((await p.report({ event: 'heartbeat', jobId })).status, 200);
    assert.equal((await p.report({ event: 'jobstop', jobId, exitCode: 0 })).status, 200);
    assert.equal((await s.call('GET', `/jobs/${jobId}`)).body.state, 'finished');
  });

  test('a pilot token cannot read jobs, pilots, sites or the summary', async () => {
    const p = sitePilot();
    const jobId = await dispatchedTo(p);
    for (const path of [
      `/jobs/${jobId}`,
      '/jobs',
      `/pilots/${p.id}`,
      '/pilots',
      '/sites',
      '/summary',
      '/jobtypes',
    ]) {
      const r = await s.call('GET', path, { token: s.pilotToken });
      assert.equal(r.status, 403, path);
      assert.doesNotMatch(JSON.stringify(r.body), new RegExp(SECRET), path);
    }
  });

  test("a pilot cannot poll or report as another pilot without that pilot's key", async () => {
    const owner = sitePilot();
    const other = new SimPilot(s, { site: owner.opts.site });
    const jobId = await dispatchedTo(owner);
    assert.equal((await other.register()).status, 201);
    const before = await state(jobId, owner.id);
    for (const key of [undefined, other.key, `${owner.key}x`, '']) {
      const poll = await asPilot(owner.id, 'poll', key, {});
      assert.equal(poll.status, 403, `poll with key ${key}`);
      assert.doesNotMatch(JSON.stringify(poll.body), new RegExp(SECRET));
      for (const body of [
        { event: 'jobstop', jobId, exitCode: 0 },
        { event: 'stopped' },
        { event: 'heartbeat', jobId },
      ]) {
        const r = await asPilot(owner.id, 'report', key, body);
        assert.equal(r.status, 403, `${body.event} with key ${key}`);
      }
    }
    assert.deepEqual(await state(jobId, owner.id), before);
  });

  test("registering another pilot's id with another key is 409 and does not take it over", async () => {
    const owner = sitePilot();
    const jobId = await dispatchedTo(owner);
    const before = await state(jobId, owner.id);
    const thiefKey = randomBytes(24).toString('base64url');
    const r = await s.call('POST', '/pilots', {
      token: s.pilotToken,
      body: { id: owner.id, key: thiefKey, host: 'evil' },
    });
    assert.equal(r.status, 409);
    assert.equal((await asPilot(owner.id, 'poll', thiefKey, {})).status, 403);
    assert.deepEqual(await state(jobId, owner.id), before);
    assert.equal((await owner.poll()).body.job.id, jobId, 'the owner still holds its job');
  });

  test("a pilot reporting on another pilot's job gets 409 for every event, and nothing changes", async () => {
    const owner = sitePilot();
    const thief = new SimPilot(s, { site: owner.opts.site });
    const jobId = await dispatchedTo(owner);
    assert.equal((await thief.register()).status, 201);
    assert.equal((await owner.report({ event: 'jobstart', jobId })).status, 200);
    const before = await state(jobId, owner.id);
    for (const body of [
      { event: 'jobstart', jobId },
      { event: 'heartbeat', jobId },
      { event: 'jobstop', jobId, exitCode: 0 },
      { event: 'timelimit', jobId },
      { event: 'nonstarter', jobId, message: 'x' },
      { event: 'killed', jobId },
    ]) {
      const r = await thief.report(body);
      assert.equal(r.status, 409, `${body.event}: ${JSON.stringify(r.body)}`);
      assert.match(r.body.message, /not assigned to pilot/);
    }
    assert.deepEqual(await state(jobId, owner.id), before);
    const thiefNow = (await s.call('GET', `/pilots/${thief.id}`)).body;
    assert.equal(thiefNow.jobId, undefined, 'the thief holds no job');
  });

  test("a pilot never sees another pilot's job env: polling — even at the same site — gets only its own work", async () => {
    const owner = sitePilot();
    const other = new SimPilot(s, { site: owner.opts.site });
    await dispatchedTo(owner);
    assert.equal((await other.register()).status, 201);
    const r = await other.poll();
    assert.equal(r.status, 200);
    assert.equal(r.body.state, 'no jobs');
    assert.doesNotMatch(JSON.stringify(r.body), new RegExp(SECRET));
  });

  test('a pilot token cannot kill, delete, adjust or submit jobs, kill pilots or make tokens', async () => {
    const owner = sitePilot();
    const jobId = await dispatchedTo(owner);
    const before = await state(jobId, owner.id);
    const calls: [string, string, unknown][] = [
      ['POST', `/jobs/${jobId}/kill`, {}],
      ['DELETE', `/jobs/${jobId}`, undefined],
      ['PATCH', `/jobs/${jobId}`, { priority: 9 }],
      ['POST', '/jobs', [{ name: 'from a pilot', jobtype: 'default', payload: '/bin/true' }]],
      ['POST', '/pilots/kill', { id: owner.id }],
      ['POST', '/pilots/kill', { all: true }],
      ['PUT', '/jobtypes/default', { limit: 0 }],
      ['POST', '/tokens', { role: 'admin' }],
    ];
    for (const [method, path, body] of calls) {
      const r = await s.call(method, path, {
        token: s.pilotToken,
        headers: { 'x-p3s-pilot-key': owner.key },
        body,
      });
      assert.equal(r.status, 403, `${method} ${path}`);
    }
    assert.deepEqual(await state(jobId, owner.id), before);
  });

  test('an admin may act for a pilot without its key (repairs), but not with a wrong one', async () => {
    const owner = sitePilot();
    const jobId = await dispatchedTo(owner);
    const wrong = await s.call('POST', `/pilots/${owner.id}/report`, {
      headers: { 'x-p3s-pilot-key': 'x'.repeat(40) },
      body: { event: 'heartbeat' },
    });
    assert.equal(wrong.status, 403);
    const r = await s.call('POST', `/pilots/${owner.id}/report`, { body: { event: 'heartbeat', jobId } });
    assert.equal(r.status, 200);
  });
});
