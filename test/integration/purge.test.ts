import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { tableName } from '../../shared/config.ts';
import { db } from '../../shared/db/client.ts';
import { SimPilot } from '../helpers/pilot-sim.ts';
import { runCli } from '../helpers/pilots.ts';
import { startTestStack, type TestStack, waitFor } from '../helpers/stack.ts';

/**
 * `POST /purge` and `p3s purge`: exactly the ended jobs, ended workflows (with their jobs), ended
 * pilots and settled files older than the cutoff go; queued, held and running jobs, live pilots,
 * a failed workflow with a job still running, files being processed and everything newer stay.
 * Ages are made by moving items' timestamps back three days (the cutoff is one day).
 */
let s: TestStack;
const OLD = new Date(Date.now() - 3 * 86400_000).toISOString();
type Kind = 'jobs' | 'workflows' | 'pilots' | 'data';
/** Every item the test made, and whether the purge must remove it. */
const items: { kind: Kind; id: string; what: string; removed: boolean }[] = [];
const note = (kind: Kind, id: string, what: string, removed: boolean) =>
  items.push({ kind, id, what, removed });
const pilots: SimPilot[] = [];

before(async () => {
  // Pilots of this test stop heart-beating while it runs: the reaper must not time them out.
  s = await startTestStack({ P3S_HEARTBEAT_TIMEOUT: '3600', P3S_DISPATCH_GRACE: '3600' });
  assert.equal((await s.call('POST', '/datatypes', { body: { name: 'TXT', ext: '.txt' } })).status, 200);
  const v = (name: string) => ({ name, jobtype: 'purge-wf', payload: '/bin/true' });
  for (const dag of [
    { name: 'one', vertices: [v('only'), v('sink')], edges: [edge('only', 'sink')] },
    {
      name: 'two',
      vertices: [v('left'), v('right'), v('sink')],
      edges: [edge('left', 'sink'), edge('right', 'sink')],
    },
  ])
    assert.equal((await s.call('POST', '/dags', { body: { dag } })).status, 201);
  await arrange();
});
after(async () => {
  for (const p of pilots) await p.report({ event: 'stopped' }).catch(() => undefined);
  await s.close();
});

function edge(source: string, target: string) {
  return { source, target, datatype: 'TXT', datatag: `${source}_${target}`.toUpperCase() };
}

async function backdate(table: Parameters<typeof tableName>[0], id: string, attrs: string[]): Promise<void> {
  const names = Object.fromEntries(attrs.map((a, i) => [`#a${i}`, a]));
  await db().send(
    new UpdateCommand({
      TableName: tableName(table),
      Key: { id },
      UpdateExpression: `SET ${attrs.map((_, i) => `#a${i} = :old`).join(', ')}`,
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: { ':old': OLD },
    }),
  );
}

async function exists(kind: Kind, id: string): Promise<boolean> {
  const r = await db().send(
    new GetCommand({ TableName: tableName(kind), Key: { id }, ConsistentRead: true }),
  );
  return r.Item !== undefined;
}

async function pilot(): Promise<SimPilot> {
  const p = new SimPilot(s, { host: 'wn-purge' });
  assert.equal((await p.register()).status, 201);
  pilots.push(p);
  return p;
}

/** Submits one job and has a new pilot take it; `end` ends it with that exit code, else it stays running. */
async function runJob(name: string, end?: number): Promise<{ id: string; pilot: SimPilot }> {
  const r = await s.call('POST', '/jobs', { body: [{ name, jobtype: 'purge', payload: '/bin/true' }] });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const id: string = r.body[0].id;
  const p = await pilot();
  const got = await p.poll(5);
  assert.equal(got.body.job?.id, id, `the pilot got ${name}`);
  assert.equal((await p.report({ event: 'jobstart', jobId: id })).status, 200);
  if (end !== undefined)
    assert.equal((await p.report({ event: 'jobstop', jobId: id, exitCode: end })).status, 200);
  return { id, pilot: p };
}

/** Runs every queued job of a workflow on fresh pilots: `fail` names vertices that exit 1, `leave` ones left running. */
async function runWorkflow(dag: string, o: { fail?: string[]; leave?: string[] } = {}): Promise<string> {
  const wf = await s.call('POST', '/workflows', { body: { dag, state: 'defined' } });
  assert.equal(wf.status, 201, JSON.stringify(wf.body));
  const id: string = wf.body.id;
  const seen = new Set<string>();
  await waitFor(
    async () => {
      const w = (await s.call('GET', `/workflows/${id}`)).body;
      for (const j of w.jobs as { id: string; vertex: string; state: string }[]) {
        if (j.state !== 'defined' || seen.has(j.id)) continue;
        const p = await pilot();
        const got = await p.poll(5);
        assert.equal(got.body.job?.id, j.id);
        seen.add(j.id);
        assert.equal((await p.report({ event: 'jobstart', jobId: j.id })).status, 200);
        if (o.leave?.includes(j.vertex)) continue;
        const exitCode = o.fail?.includes(j.vertex) ? 1 : 0;
        assert.equal((await p.report({ event: 'jobstop', jobId: j.id, exitCode })).status, 200);
      }
      return ['finished', 'failed'].includes(w.state) &&
        w.jobs.every((j: { state: string }) => j.state !== 'defined' && j.state !== 'template')
        ? w
        : undefined;
    },
    { what: `workflow ${dag} ran`, timeoutMs: 20_000, intervalMs: 100 },
  );
  return id;
}

async function workflowJobs(id: string): Promise<{ id: string; vertex: string; state: string }[]> {
  return (await s.call('GET', `/workflows/${id}`)).body.jobs;
}

async function arrange(): Promise<void> {
  // Standalone jobs.
  const oldFinished = await runJob('old-finished', 0);
  await backdate('jobs', oldFinished.id, ['stateAt', 'endedAt']);
  note('jobs', oldFinished.id, 'finished 3 days ago', true);
  const oldFailed = await runJob('old-failed', 1);
  await backdate('jobs', oldFailed.id, ['stateAt', 'endedAt']);
  note('jobs', oldFailed.id, 'failed 3 days ago', true);
  const newFinished = await runJob('new-finished', 0);
  note('jobs', newFinished.id, 'finished just now', false);
  const oldRunning = await runJob('old-running');
  await backdate('jobs', oldRunning.id, ['stateAt', 'createdAt', 'definedAt']);
  note('jobs', oldRunning.id, 'running, queued 3 days ago', false);
  const queued = await s.call('POST', '/jobs', {
    body: [
      { name: 'old-queued', jobtype: 'purge', payload: '/bin/true', site: 'nowhere' },
      { name: 'old-held', jobtype: 'purge', payload: '/bin/true', state: 'held' },
    ],
  });
  assert.equal(queued.status, 201);
  for (const j of queued.body) {
    await backdate('jobs', j.id, ['stateAt', 'createdAt', 'definedAt']);
    note('jobs', j.id, `${j.name}, 3 days old`, false);
  }

  // Workflows: an old finished one goes with its jobs; an old failed one with a job still
  // running stays, jobs and all; a new one stays.
  const wfOld = await runWorkflow('one');
  await backdate('workflows', wfOld, ['endedAt', 'stateAt']);
  for (const j of await workflowJobs(wfOld)) {
    await backdate('jobs', j.id, ['stateAt', 'endedAt']);
    note('jobs', j.id, `job ${j.vertex} of the old finished workflow`, true);
  }
  note('workflows', wfOld, 'finished 3 days ago', true);
  const wfLive = await runWorkflow('two', { fail: ['left'], leave: ['right'] });
  assert.equal((await s.call('GET', `/workflows/${wfLive}`)).body.state, 'failed');
  await backdate('workflows', wfLive, ['endedAt', 'stateAt']);
  for (const j of await workflowJobs(wfLive)) {
    if (j.state !== 'running') await backdate('jobs', j.id, ['stateAt', 'endedAt']);
    note('jobs', j.id, `job ${j.vertex} (${j.state}) of the old failed workflow with a running job`, false);
  }
  note('workflows', wfLive, 'failed 3 days ago, a job still running', false);
  const wfNew = await runWorkflow('one');
  for (const j of await workflowJobs(wfNew)) note('jobs', j.id, `job ${j.vertex} of the new workflow`, false);
  note('workflows', wfNew, 'finished just now', false);

  // Pilots: ended long ago goes; ended now, and live (whatever its age), stay.
  const pOld = await pilot();
  assert.equal((await pOld.report({ event: 'stopped' })).status, 200);
  await backdate('pilots', pOld.id, ['stateAt', 'endedAt']);
  note('pilots', pOld.id, 'stopped 3 days ago', true);
  const pNew = await pilot();
  assert.equal((await pNew.report({ event: 'stopped' })).status, 200);
  note('pilots', pNew.id, 'stopped just now', false);
  const pLive = await pilot();
  await backdate('pilots', pLive.id, ['stateAt', 'registeredAt']);
  note('pilots', pLive.id, 'live, registered 3 days ago', false);
  for (const p of pilots)
    if (![pOld, pNew, pLive].includes(p)) note('pilots', p.id, 'ran a job of this test, live', false);

  // Files: settled and old goes; new, and old but still being processed, stay.
  const reg = await s.call('POST', '/data', {
    body: {
      files: ['/data/purge/old.raw', '/data/purge/new.raw', '/data/purge/busy.raw'].map((location) => ({
        location,
      })),
    },
  });
  assert.equal(reg.status, 200, JSON.stringify(reg.body));
  const [dOld, dNew, dBusy] = reg.body.results.map((r: { id: string }) => r.id);
  await backdate('data', dOld, ['registeredAt']);
  note('data', dOld, 'registered 3 days ago (unmatched)', true);
  note('data', dNew, 'registered just now', false);
  await backdate('data', dBusy, ['registeredAt']);
  await db().send(
    new UpdateCommand({
      TableName: tableName('data'),
      Key: { id: dBusy },
      UpdateExpression: 'SET #s = :new',
      ExpressionAttributeNames: { '#s': 'state' },
      ExpressionAttributeValues: { ':new': 'new' },
    }),
  );
  note('data', dBusy, 'registered 3 days ago, its rules still running (new)', false);
}

const expected = () => {
  const c = { jobs: 0, workflows: 0, pilots: 0, data: 0 };
  for (const it of items) if (it.removed) c[it.kind]++;
  return c;
};

async function purgeAll(body: Record<string, unknown>) {
  const total = { jobs: 0, workflows: 0, pilots: 0, data: 0 };
  let cursor: string | undefined;
  let calls = 0;
  let kept = 0;
  do {
    const r = await s.call('POST', '/purge', { body: { ...body, cursor } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.ok(r.body.examined <= (body.limit as number), `a page examines at most ${body.limit}`);
    for (const k of Object.keys(total) as Kind[]) total[k] += r.body.removed[k];
    kept += r.body.kept.workflows;
    cursor = r.body.cursor;
    calls++;
  } while (cursor && calls < 500);
  return { total, calls, kept };
}

/** `p3s …` (the single-file build) against this stack, as the admin unless a token is given. */
const p3s = (args: string[], token = s.adminToken) => runCli(s.url, token, args);

describe('purge', () => {
  test('a dry run (CLI) counts exactly what would go, with progress, and removes nothing', async () => {
    const r = await p3s(['purge', '--older-than', '1d', '--dry-run', '--page', '4', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(out.removed, expected());
    assert.equal(out.kept.workflows, 1, 'the failed workflow with a running job');
    assert.ok(out.calls > 1, `paged: ${out.calls} calls`);
    assert.match(r.stderr, /^purge: \d+ examined, would remove/m);
    for (const it of items)
      assert.equal(await exists(it.kind, it.id), true, `${it.kind} ${it.what} is still there`);
  });

  test('a purge in small pages removes exactly the old ended items and keeps everything else', async () => {
    const before = (await s.call('GET', '/summary')).body.data;
    const r = await purgeAll({ olderThan: '1d', limit: 3 });
    assert.deepEqual(r.total, expected());
    assert.ok(r.calls > 3, `it took several pages (${r.calls})`);
    for (const it of items)
      assert.equal(
        await exists(it.kind, it.id),
        !it.removed,
        `${it.kind} ${it.what}: ${it.removed ? 'removed' : 'kept'}`,
      );
    const after = (await s.call('GET', '/summary')).body.data;
    assert.equal((after.unmatched ?? 0) - (before.unmatched ?? 0), -1, 'the data counters follow');
    // Again: nothing left to remove.
    assert.deepEqual((await purgeAll({ olderThan: '1d', limit: 50 })).total, {
      jobs: 0,
      workflows: 0,
      pilots: 0,
      data: 0,
    });
  });

  test('bad input is a 400 naming the field and changes nothing', async () => {
    for (const [body, field] of [
      [{ olderThan: 'soon' }, /olderThan/],
      [{ olderThan: '1d', what: ['jobs', 'tokens'] }, /what/],
      [{ olderThan: '1d', limit: 0 }, /limit/],
      [{ olderThan: '1d', cursor: 'bm90IGEgY3Vyc29y' }, /cursor/],
      [
        {
          olderThan: '1d',
          cursor: Buffer.from(
            JSON.stringify({ cutoff: '2999-01-01T00:00:00.000Z', what: ['jobs'], phase: 0, sub: 0 }),
          ).toString('base64url'),
        },
        /cursor/,
      ],
    ] as const) {
      const r = await s.call('POST', '/purge', { body });
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.match(r.body.message, field);
    }
    const viewer = (await s.call('POST', '/tokens', { body: { role: 'submitter' } })).body.token;
    assert.equal(
      (await s.call('POST', '/purge', { token: viewer, body: { olderThan: 0, dryRun: true } })).status,
      403,
    );
    for (const it of items) assert.equal(await exists(it.kind, it.id), !it.removed);
  });
});
