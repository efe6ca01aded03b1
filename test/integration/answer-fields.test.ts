import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SimPilot } from '../helpers/pilot-sim.ts';
import { apiRoutes, INTERNAL_ATTRIBUTES, internalKeys, tableSnapshot } from '../helpers/routes.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

/**
 * Every JSON answer of every entity route, against the fields each entity may show — written
 * here, apart from the server's own lists (shared/db/items.ts) — and against the attributes the
 * tables keep for themselves, which no answer may carry at any depth.
 */
const FIELDS = {
  job: [
    'id',
    'name',
    'jobtype',
    'payload',
    'env',
    'priority',
    'timelimit',
    'state',
    'held',
    'site',
    'user',
    'pilotId',
    'host',
    'exitCode',
    'signal',
    'message',
    'stdoutTail',
    'stderrTail',
    'killRequested',
    'workflowId',
    'vertex',
    'inputFile',
    'dataId',
    'rule',
    'createdAt',
    'definedAt',
    'dispatchedAt',
    'startedAt',
    'payloadStartedAt',
    'endedAt',
    'stateAt',
    'tailAt',
    'requeuedAt',
    'requeuedFrom',
    'pid',
  ],
  pilot: [
    'id',
    'host',
    'site',
    'pid',
    'extra',
    'version',
    'resources',
    'state',
    'jobId',
    'jobtype',
    'jobcount',
    'drain',
    'kill',
    'registeredAt',
    'lastSeenAt',
    'idleSince',
    'stateAt',
    'endedAt',
  ],
  data: [
    'id',
    'location',
    'name',
    'dirpath',
    'size',
    'datatype',
    'source',
    'comment',
    'state',
    'user',
    'registeredAt',
    'updatedAt',
    'announced',
    'lastAnnouncedAt',
    'triggers',
    'jobIds',
  ],
  registered: ['id', 'location', 'name', 'created', 'state', 'datatype', 'jobs', 'triggers'],
  workflow: [
    'id',
    'name',
    'dag',
    'state',
    'user',
    'nvertices',
    'nedges',
    'ndone',
    'inputFile',
    'dataId',
    'rule',
    'createdAt',
    'definedAt',
    'startedAt',
    'endedAt',
    'stateAt',
  ],
  workflowDetail: ['fileinfo', 'jobinfo', 'jobs', 'files'],
  workflowJob: [
    'vertex',
    'id',
    'name',
    'jobtype',
    'state',
    'exitCode',
    'pilotId',
    'message',
    'stateAt',
    'endedAt',
    'inputs',
    'outputs',
  ],
  dag: [
    'name',
    'description',
    'nvertices',
    'nedges',
    'roots',
    'jobtypes',
    'datatypes',
    'user',
    'createdAt',
    'updatedAt',
  ],
  dagDetail: ['vertices', 'edges'],
  token: ['id', 'role', 'name', 'createdAt', 'expiresAt', 'revokedAt'],
  site: [
    'name',
    'server',
    'pilots',
    'pilotcycles',
    'pilotperiod',
    'pilotbeat',
    'pilotlife',
    'env',
    'updatedAt',
  ],
  jobtype: [
    'name',
    'limit',
    'priority',
    'deadline',
    'sampling',
    'inFlight',
    'maxInFlight',
    'ownQueue',
    'migrating',
  ],
  datatype: ['name', 'ext', 'comment', 'updatedAt', 'user'],
  rule: [
    'name',
    'comment',
    'enabled',
    'match',
    'action',
    'sampling',
    'limit',
    'dedupe',
    'user',
    'createdAt',
    'updatedAt',
  ],
} as const;
type Entity = keyof typeof FIELDS;

let s: TestStack;
const ids: Record<string, string> = {};
/** Route key → what its answer was, from the calls below. */
const answers = new Map<string, unknown>();
/** Entity objects seen in answers, by route and entity. */
const seen: { route: string; entity: Entity; obj: Record<string, unknown> }[] = [];

async function call(key: string, path: string, opts: Parameters<TestStack['call']>[2] = {}) {
  const [method] = key.split(' ');
  const r = await s.call(method!, path, opts);
  assert.ok(r.status < 300, `${key}: ${r.status} ${JSON.stringify(r.body)}`);
  answers.set(key, r.body);
  return r.body;
}

function as(route: string, entity: Entity, ...objs: unknown[]) {
  assert.ok(objs.length > 0, `${route}: no ${entity} in the answer`);
  for (const o of objs) {
    assert.ok(o && typeof o === 'object', `${route}: ${entity} is not an object`);
    seen.push({ route, entity, obj: o as Record<string, unknown> });
  }
}

before(async () => {
  s = await startTestStack({ P3S_REAPER_INTERVAL: '3600' });
});
after(async () => {
  await s.close();
});

describe('answers show only the fields of their entity', () => {
  test('every entity route, with entities that have every kind of field set', async () => {
    as(
      'POST /datatypes',
      'datatype',
      await call('POST /datatypes', '/datatypes', { body: { name: 'AF', ext: '.af' } }),
    );
    as('GET /datatypes', 'datatype', ...(await call('GET /datatypes', '/datatypes')).datatypes);
    as(
      'PUT /sites/{name}',
      'site',
      await call('PUT /sites/{name}', '/sites/af', { body: { pilots: 1, env: { A: '1' } } }),
    );
    as('GET /sites/{name}', 'site', await call('GET /sites/{name}', '/sites/af'));
    as('GET /sites', 'site', ...(await call('GET /sites', '/sites')).sites);
    as(
      'PUT /jobtypes/{name}',
      'jobtype',
      await call('PUT /jobtypes/{name}', '/jobtypes/af', { body: { limit: 5, priority: 2, deadline: 3600 } }),
    );
    as('GET /jobtypes', 'jobtype', ...(await call('GET /jobtypes', '/jobtypes')).jobtypes);

    // A rule, and a file that fires it: a job made by a rule (dataId, rule).
    const rule = {
      name: 'af',
      match: { pattern: '*.af' },
      action: [{ name: 'af-rule', jobtype: 'af', payload: '/bin/true' }],
    };
    as('POST /rules', 'rule', await call('POST /rules', '/rules', { body: rule }));
    as(
      'PATCH /rules/{name}',
      'rule',
      await call('PATCH /rules/{name}', '/rules/af', { body: { enabled: true } }),
    );
    as('GET /rules/{name}', 'rule', await call('GET /rules/{name}', '/rules/af'));
    as('GET /rules', 'rule', ...(await call('GET /rules', '/rules')).rules);
    const reg = await call('POST /data', '/data', { body: [{ location: '/data/af/x.af', comment: 'c' }] });
    as('POST /data', 'registered', ...reg.results);
    ids.data = reg.results[0].id;
    as('GET /data/{id}', 'data', await call('GET /data/{id}', `/data/${ids.data}`));
    as('GET /data', 'data', ...(await call('GET /data', '/data')).data);

    // Jobs: queued (seq, qpk, qsk on the item), held, adjusted, killed, and one run to the end.
    const sub = await call('POST /jobs', '/jobs', {
      body: [
        { name: 'run', jobtype: 'af', payload: '/bin/true', site: 'af', env: { X: '1' }, timelimit: 60 },
        { name: 'held', jobtype: 'af', payload: '/bin/true', state: 'held' },
        { name: 'adjust', jobtype: 'af', payload: '/bin/true' },
        { name: 'kill', jobtype: 'af', payload: '/bin/true' },
      ],
    });
    as('POST /jobs', 'job', ...sub);
    const [run, , adjust, kill] = sub as { id: string }[];
    as(
      'PATCH /jobs/{id}',
      'job',
      await call('PATCH /jobs/{id}', `/jobs/${adjust!.id}`, { body: { priority: 7 } }),
    );
    as('POST /jobs/{id}/kill', 'job', await call('POST /jobs/{id}/kill', `/jobs/${kill!.id}/kill`));
    const p = new SimPilot(s, { site: 'af', host: 'wn-af' });
    const registered = await p.register();
    assert.equal(registered.status, 201);
    answers.set('POST /pilots', registered.body);
    as('POST /pilots', 'pilot', registered.body.pilot);
    const poll = await p.poll();
    answers.set('POST /pilots/{id}/poll', poll.body);
    as('POST /pilots/{id}/poll', 'job', poll.body.job);
    const jobId = poll.body.job.id as string;
    for (const ev of [
      { event: 'jobstart', jobId, pid: 7 },
      { event: 'heartbeat', jobId },
      {
        event: 'jobstop',
        jobId,
        exitCode: 1,
        signal: 'SIGTERM',
        stdoutTail: 'o',
        stderrTail: 'e',
        message: 'm',
      },
    ]) {
      const r = await p.report(ev);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      answers.set('POST /pilots/{id}/report', r.body);
    }
    assert.deepEqual(Object.keys(answers.get('POST /pilots/{id}/report') as object).sort(), [
      'action',
      'status',
    ]);
    as('GET /jobs/{id}', 'job', await call('GET /jobs/{id}', `/jobs/${jobId}`));
    as('GET /jobs', 'job', ...(await call('GET /jobs', '/jobs?limit=500')).jobs);
    as('GET /pilots/{id}', 'pilot', await call('GET /pilots/{id}', `/pilots/${p.id}`));
    as('GET /pilots', 'pilot', ...(await call('GET /pilots', '/pilots')).pilots);
    await call('POST /pilots/kill', '/pilots/kill', { body: { id: p.id, mode: 'drain' } });
    assert.ok(run);

    // DAGs and workflows.
    const dag = {
      name: 'af-dag',
      description: 'd',
      vertices: [
        { name: 'a', jobtype: 'af', payload: '/bin/true' },
        { name: 'b', jobtype: 'af', payload: '/bin/true' },
      ],
      edges: [{ source: 'a', target: 'b', datatype: 'AF' }],
    };
    as('POST /dags', 'dag', await call('POST /dags', '/dags', { body: { dag } }));
    const dagDetail = await call('GET /dags/{name}', '/dags/af-dag');
    as('GET /dags/{name}', 'dag', dagDetail);
    as('GET /dags', 'dag', ...(await call('GET /dags', '/dags')).dags);
    const wf = await call('POST /workflows', '/workflows', { body: { dag: 'af-dag', name: 'wf' } });
    as('POST /workflows', 'workflow', wf);
    as(
      'POST /workflows/{id}/define',
      'workflow',
      await call('POST /workflows/{id}/define', `/workflows/${wf.id}/define`),
    );
    as('GET /workflows/{id}', 'workflow', await call('GET /workflows/{id}', `/workflows/${wf.id}`));
    as('GET /workflows', 'workflow', ...(await call('GET /workflows', '/workflows')).workflows);
    as(
      'POST /workflows/{id}/cancel',
      'workflow',
      await call('POST /workflows/{id}/cancel', `/workflows/${wf.id}/cancel`),
    );
    await call('DELETE /workflows/{id}', `/workflows/${wf.id}`);
    // One that stays, so the tables hold a workflow's packed spec below.
    await call('POST /workflows', '/workflows', { body: { dag: 'af-dag', name: 'kept' } });

    // Tokens: the secret once, never the hash.
    const tok = await call('POST /tokens', '/tokens', { body: { role: 'viewer', expiresInDays: 1 } });
    const { token: secret, ...info } = tok;
    assert.match(secret, /^p3s_/);
    as('POST /tokens', 'token', info);
    as('DELETE /tokens/{id}', 'token', await call('DELETE /tokens/{id}', `/tokens/${tok.id}`));
    as('GET /tokens', 'token', ...(await call('GET /tokens', '/tokens')).tokens);

    await call('GET /summary', '/summary');
    await call('GET /monitor/live.json', '/monitor/live.json');
    await call('GET /healthz', '/healthz', { token: null });
    await call('DELETE /jobs/{id}', `/jobs/${kill!.id}`);
    await call('DELETE /rules/{name}', '/rules/af');
    await call('POST /dags', '/dags', { body: { dag: { ...dag, name: 'af-gone' } } });
    await call('DELETE /dags/{name}', '/dags/af-gone');
    await call('DELETE /datatypes/{name}', '/datatypes/AF');
    await call('PUT /sites/{name}', '/sites/af-gone', { body: { pilots: 1 } });
    await call('DELETE /sites/{name}', '/sites/af-gone');
    await call('POST /purge', '/purge', { body: { olderThan: '1d', dryRun: true } });

    // The entities' own fields, and the nested views of the detailed answers.
    const wrong: string[] = [];
    const check = (
      route: string,
      entity: Entity,
      obj: Record<string, unknown>,
      extra: readonly string[] = [],
    ) => {
      const allowed = new Set<string>([...FIELDS[entity], ...extra]);
      for (const k of Object.keys(obj)) if (!allowed.has(k)) wrong.push(`${route}: ${entity}.${k}`);
    };
    for (const { route, entity, obj } of seen) {
      if (entity === 'workflow' && Array.isArray(obj.jobs)) {
        check(route, entity, obj, FIELDS.workflowDetail);
        for (const j of obj.jobs as Record<string, unknown>[]) check(route, 'workflowJob', j);
      } else if (entity === 'dag' && Array.isArray(obj.vertices)) check(route, entity, obj, FIELDS.dagDetail);
      else check(route, entity, obj);
    }
    assert.deepEqual(wrong, [], 'fields no entity shows');
    // The seeded entities did carry the fields that are easy to lose.
    const job = seen.find((x) => x.route === 'GET /jobs/{id}')!.obj;
    for (const k of ['pilotId', 'host', 'exitCode', 'signal', 'stdoutTail', 'startedAt', 'endedAt'])
      assert.ok(k in job, `job.${k}`);
    const ruled = seen.find((x) => x.entity === 'job' && x.obj.rule === 'af');
    assert.ok(ruled && ruled.obj.dataId === ids.data, 'a rule-made job shows its rule and file');
  });

  test('no answer carries an internal attribute at any depth — while the tables do hold them', async () => {
    const found = [...answers].flatMap(([route, body]) => internalKeys(body).map((k) => `${route}: ${k}`));
    assert.deepEqual(found, []);
    // The answers above were built from items that have them: the check looked at real leaks.
    const tables = await tableSnapshot(s);
    const held = new Set<string>();
    for (const items of Object.values(tables))
      for (const it of items)
        for (const k of Object.keys(JSON.parse(it))) if (INTERNAL_ATTRIBUTES.has(k)) held.add(k);
    for (const k of ['seq', 'qpk', 'qsk', 'lpk', 'keyHash', 'hash', 'ttl', 'spec', 'body'])
      assert.ok(held.has(k), `no item holds ${k}`);
  });

  test('every JSON route of serverless.yml was called above', async () => {
    const html = (key: string) => key.startsWith('GET /monitor/') && !key.endsWith('.json');
    const json = (await apiRoutes())
      .map((r) => r.key)
      .filter((k) => !html(k) && k !== 'GET /' && !k.includes('/monitor/sign'));
    assert.deepEqual(
      json.filter((k) => !answers.has(k)),
      [],
    );
  });
});
