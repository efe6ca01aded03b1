import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { parseGraphML } from '../../shared/core/dag/graphml.ts';
import { startTestStack, type TestStack, waitFor } from '../helpers/stack.ts';

/**
 * DAG templates and workflows through the HTTP API (issue 6): uploads in both forms, the
 * rejections that store nothing, instantiation with fileinfo/jobinfo, define, cancel, delete.
 * Job execution itself is in workflow-advance.test.ts (simulated pilots) and the e2e tests.
 */
let s: TestStack;
let ddb: DynamoDBDocumentClient;
before(async () => {
  s = await startTestStack();
  ddb = DynamoDBDocumentClient.from(
    new DynamoDBClient({
      endpoint: s.dynamoEndpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'p3slocal', secretAccessKey: 'p3slocal' },
    }),
  );
  assert.equal((await s.call('POST', '/datatypes', { body: { name: 'TXT', ext: '.txt' } })).status, 200);
});
after(async () => {
  ddb.destroy();
  await s.close();
});

const fixtures = join(import.meta.dirname, '..', 'fixtures');
const text = (path: string) => readFileSync(join(fixtures, path), 'utf8');
const json = (path: string) => JSON.parse(text(path));

async function addDag(body: Record<string, unknown>, query = '') {
  return s.call('POST', `/dags${query}`, { body });
}

async function item(table: string, key: Record<string, unknown>) {
  const r = await ddb.send(new GetCommand({ TableName: `${s.tablePrefix}-${table}`, Key: key }));
  return r.Item;
}

describe('DAG templates', () => {
  test('the original 3filters GraphML (opaque key ids) is stored and read back by attr.name', async () => {
    const r = await addDag({ name: '3filters', graphml: text('dags/3filters/3filters.graphml') });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.deepEqual(
      { n: r.body.nvertices, e: r.body.nedges, roots: r.body.roots, types: r.body.jobtypes },
      { n: 5, e: 6, roots: ['NOOP1'], types: ['filter', 'noop'] },
    );
    const got = (await s.call('GET', '/dags/3filters')).body;
    const filter1 = got.vertices.find((v: { name: string }) => v.name === 'filter1');
    assert.equal(filter1.payload, 'grep -c TEST1 $INPTXT > $OUTTXT1');
    assert.deepEqual(filter1.env, { P3S_EXECMODE: 'SHELL' });
    assert.equal(filter1.timelimit, 7777);
    assert.equal(got.edges[3].datatag, 'OUTTXT1');
    assert.equal(got.edges[3].dirpath, '/data/p3s/');
    assert.ok(await item('dags', { name: '3filters' }), 'stored');
  });

  test('show as GraphML gives XML that parses back to the same DAG', async () => {
    const res = await fetch(`${s.url}/dags/3filters?format=graphml`, {
      headers: { authorization: `Bearer ${s.adminToken}` },
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /application\/xml/);
    const back = parseGraphML(await res.text());
    const stored = (await s.call('GET', '/dags/3filters')).body;
    assert.deepEqual(back.vertices, stored.vertices);
    assert.deepEqual(back.edges, stored.edges);
  });

  test('parallel edges and several roots are kept; the JSON form is accepted', async () => {
    const multi = await addDag({ name: 'wfmulti', graphml: text('dags/misc/wfmulti.graphml') });
    assert.equal(multi.status, 201, JSON.stringify(multi.body));
    const edges = (await s.call('GET', '/dags/wfmulti')).body.edges;
    assert.equal(
      edges.filter((e: { source: string; target: string }) => e.source === 'adc' && e.target === 'adcViz')
        .length,
      2,
    );
    const two = await addDag({ dag: json('dags/json/tworoots.json') });
    assert.equal(two.status, 201, JSON.stringify(two.body));
    assert.equal(two.body.name, 'pedestal-beam', 'the JSON form names itself');
    assert.deepEqual(two.body.roots, ['pedestal', 'beam']);
  });

  test('a name that exists is a 409 unless replace=true, which keeps createdAt', async () => {
    const body = { name: 'one', graphml: text('dags/1filter/1filter.graphml') };
    const first = await addDag(body);
    assert.equal(first.status, 201);
    const dup = await addDag(body);
    assert.equal(dup.status, 409);
    assert.match(dup.body.message, /DAG one exists/);
    const rep = await addDag({ ...body, description: 'v2' }, '?replace=true');
    assert.equal(rep.status, 201);
    assert.equal(rep.body.createdAt, first.body.createdAt);
    assert.equal((await s.call('GET', '/dags/one')).body.description, 'v2');
  });

  const rejects: [string, () => Record<string, unknown>, RegExp][] = [
    [
      'a cycle',
      () => ({ name: 'bad-cycle', graphml: text('dags/bad/cycle.graphml') }),
      /cycle: a → b → c → a/,
    ],
    [
      'an unknown datatype',
      () => ({ name: 'bad-type', graphml: text('workflows/unknown-datatype.graphml') }),
      /edge 1 \(a→b\): unknown datatype ROOTX/,
    ],
    [
      'a dangling edge',
      () => ({ name: 'bad-dangling', graphml: text('dags/bad/dangling.graphml') }),
      /edge 3 \(a→zz\): unknown target zz/,
    ],
    [
      'malformed XML',
      () => ({ name: 'bad-xml', graphml: text('dags/bad/malformed.graphml') }),
      /malformed XML at line \d+/,
    ],
    [
      'a JSON DAG with a cycle',
      () => ({
        dag: {
          name: 'bad-json',
          vertices: [
            { name: 'a', jobtype: 't', payload: '/bin/a' },
            { name: 'b', jobtype: 't', payload: '/bin/b' },
          ],
          edges: [
            { source: 'a', target: 'b', datatype: 'TXT' },
            { source: 'b', target: 'a', datatype: 'TXT' },
          ],
        },
      }),
      /cycle: a → b → a/,
    ],
    [
      'both forms at once',
      () => ({ name: 'bad-both', graphml: '<graphml/>', dag: {} }),
      /exactly one of graphml/,
    ],
  ];
  for (const [what, body, message] of rejects) {
    test(`${what} is a 400 naming the problem, and nothing is stored`, async () => {
      const b = body();
      const r = await addDag(b);
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.match(r.body.message, message);
      const name = (b.name ?? (b.dag as { name: string }).name) as string;
      assert.equal((await s.call('GET', `/dags/${name}`)).status, 404);
      assert.equal(await item('dags', { name }), undefined);
    });
  }

  test('list shows summaries; delete is for operators and removes the DAG', async () => {
    const list = (await s.call('GET', '/dags')).body.dags as { name: string; body?: unknown }[];
    assert.ok(list.some((d) => d.name === '3filters'));
    assert.ok(
      list.every((d) => d.body === undefined),
      'no packed bodies in a listing',
    );
    await addDag({ name: 'doomed', graphml: text('dags/1filter/1filter.graphml') });
    const sub = (await s.call('POST', '/tokens', { body: { role: 'submitter' } })).body.token;
    assert.equal((await s.call('DELETE', '/dags/doomed', { token: sub })).status, 403);
    assert.equal((await s.call('DELETE', '/dags/doomed')).status, 200);
    assert.equal((await s.call('GET', '/dags/doomed')).status, 404);
    assert.equal((await s.call('DELETE', '/dags/doomed')).status, 404);
  });
});

describe('workflows', () => {
  test('create (template): one template job per vertex, each edge file wired into both ends under its datatag', async () => {
    const r = await s.call('POST', '/workflows', { body: { dag: '3filters', fileinfo: 'sticky' } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const wf = r.body;
    assert.equal(wf.state, 'template');
    assert.equal(wf.dag, '3filters');
    assert.equal(wf.jobs.length, 5);
    assert.ok(wf.jobs.every((j: { state: string }) => j.state === 'template'));
    const filter2 = wf.jobs.find((j: { vertex: string }) => j.vertex === 'filter2');
    assert.deepEqual(
      filter2.inputs.map((f: { datatag: string; path: string; peer: string }) => [f.peer, f.datatag, f.path]),
      [['NOOP1', 'INPTXT', '/data/p3s/input.txt']],
    );
    assert.deepEqual(
      filter2.outputs.map((f: { path: string }) => f.path),
      ['/data/p3s/output.txt'],
    );
    const job = (await s.call('GET', `/jobs/${filter2.id}`)).body;
    assert.equal(job.workflowId, wf.id);
    assert.equal(job.vertex, 'filter2');
    assert.deepEqual(job.env, {
      P3S_EXECMODE: 'SHELL',
      INPTXT: '/data/p3s/input.txt',
      OUTTXT2: '/data/p3s/output.txt',
    });
    const sink = (
      await s.call('GET', `/jobs/${wf.jobs.find((j: { vertex: string }) => j.vertex === 'NOOP2').id}`)
    ).body;
    assert.equal(sink.env.OUTTXT1, '/data/p3s/output.txt', 'the sink sees its input edges too');
    // Nothing is queued while the workflow is a template.
    const queued = (await s.call('GET', `/jobs?workflow=${wf.id}&state=defined`)).body.jobs;
    assert.deepEqual(queued, []);
    assert.equal((await s.call('DELETE', `/workflows/${wf.id}`)).status, 200);
  });

  test('fileinfo: default <uuid><ext>, inherit:X, and JSON per edge keyed source:target', async () => {
    const plain = (await s.call('POST', '/workflows', { body: { dag: 'one' } })).body;
    for (const f of plain.files) assert.equal(f.path, `/data/p3s/${f.id}.txt`);
    assert.match(plain.files[0].id, /^[0-9a-f-]{36}$/);
    const inh = (await s.call('POST', '/workflows', { body: { dag: 'one', fileinfo: 'inherit:run5141' } }))
      .body;
    assert.deepEqual(
      inh.files.map((f: { path: string }) => f.path),
      ['/data/p3s/run5141:one:NOOP1:INPTXT.txt', '/data/p3s/run5141:one:filter:OUTTXT.txt'],
    );
    const map = (
      await s.call('POST', '/workflows', {
        body: { dag: 'one', fileinfo: JSON.stringify(json('dags/1filter/fileinfo_1filter_m.json')) },
      })
    ).body;
    assert.deepEqual(
      map.files.map((f: { id: string; path: string }) => f.path),
      map.files.map((f: { id: string; source: string }) =>
        f.source === 'NOOP1' ? `/data/p3s/run5141/${f.id}.txt` : `/data/p3s/run5141/out/${f.id}.txt`,
      ),
      'the listed edges get their dirpath; the name stays the default',
    );
    const named = (
      await s.call('POST', '/workflows', {
        body: { dag: 'one', fileinfo: { 'filter:NOOP2': { name: 'counts.txt' } } },
      })
    ).body;
    assert.deepEqual(
      named.files.map((f: { path: string }) => f.path),
      [`/data/p3s/${named.files[0].id}.txt`, '/data/p3s/counts.txt'],
    );
    for (const w of [plain, inh, map, named])
      assert.equal((await s.call('DELETE', `/workflows/${w.id}`)).status, 200);
  });

  test('jobinfo merges env and replaces payload per vertex (the original replaced env)', async () => {
    const r = await s.call('POST', '/workflows', {
      body: {
        dag: 'one',
        jobinfo: { filter: { payload: 'grep -c X $INPTXT > $OUTTXT', env: { LEVEL: '2' }, priority: 9 } },
      },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const job = (
      await s.call('GET', `/jobs/${r.body.jobs.find((j: { vertex: string }) => j.vertex === 'filter').id}`)
    ).body;
    assert.equal(job.payload, 'grep -c X $INPTXT > $OUTTXT');
    assert.equal(job.env.LEVEL, '2');
    assert.equal(job.env.P3S_EXECMODE, 'SHELL', 'the vertex env stays');
    assert.equal(job.priority, 9);
    await s.call('DELETE', `/workflows/${r.body.id}`);
  });

  test('bad fileinfo, jobinfo or DAG name: a 4xx naming the problem, and no jobs are made', async () => {
    const before = (await s.call('GET', '/jobs?limit=500')).body.jobs.length;
    const cases: [Record<string, unknown>, number, RegExp][] = [
      [{ dag: 'nope' }, 404, /DAG nope not found/],
      [{ dag: 'one', fileinfo: '{"NOOP1:nowhere": {"name": "x"}}' }, 400, /has no edge NOOP1:nowhere/],
      [{ dag: 'one', fileinfo: 'sometimes' }, 400, /fileinfo "sometimes"/],
      [{ dag: 'one', jobinfo: '{not json' }, 400, /jobinfo is not valid JSON/],
      [{ dag: 'one', jobinfo: { ghost: { payload: 'x' } } }, 400, /has no vertex ghost/],
      [{ dag: 'one', fileinfo: 'inherit:' }, 400, /fileinfo inherit: needs a name/],
      [
        { dag: 'pedestal-beam', fileinfo: { 'pedestal:compare': { size: 1 } } },
        400,
        /fileinfo pedestal:compare: Unrecognized key/,
      ],
    ];
    for (const [body, status, message] of cases) {
      const r = await s.call('POST', '/workflows', { body });
      assert.equal(r.status, status, JSON.stringify(body));
      assert.match(r.body.message, message);
    }
    assert.equal((await s.call('GET', '/jobs?limit=500')).body.jobs.length, before);
  });

  test('define releases the roots: a noop root finishes and passes the release on', async () => {
    const wf = (await s.call('POST', '/workflows', { body: { dag: 'one', name: 'run1' } })).body;
    assert.equal(wf.name, 'run1');
    const d = await s.call('POST', `/workflows/${wf.id}/define`);
    assert.equal(d.status, 200, JSON.stringify(d.body));
    assert.equal(d.body.state, 'defined');
    const states = Object.fromEntries(
      d.body.jobs.map((j: { vertex: string; state: string }) => [j.vertex, j.state]),
    );
    assert.deepEqual(states, { NOOP1: 'finished', filter: 'defined', NOOP2: 'template' });
    const filter = (await s.call('GET', `/jobs/${d.body.jobs[1].id}`)).body;
    assert.ok(filter.definedAt, 'a released job is queued with its definition time');
    // define again: harmless, nothing changes.
    const again = await s.call('POST', `/workflows/${wf.id}/define`);
    assert.equal(again.status, 200);
    assert.deepEqual(
      again.body.jobs.map((j: { state: string }) => j.state),
      d.body.jobs.map((j: { state: string }) => j.state),
    );
    // A defined workflow cannot be deleted without force; cancel ends it.
    const del = await s.call('DELETE', `/workflows/${wf.id}`);
    assert.equal(del.status, 409);
    assert.match(del.body.message, /cancel it first, or delete with force=true/);
    const c = await s.call('POST', `/workflows/${wf.id}/cancel`);
    assert.equal(c.status, 200);
    assert.equal(c.body.state, 'cancelled');
    assert.deepEqual(
      c.body.jobs.map((j: { state: string }) => j.state),
      ['finished', 'cancelled', 'cancelled'],
    );
    assert.equal((await s.call('POST', `/workflows/${wf.id}/define`)).status, 409);
    assert.equal(
      (await s.call('POST', `/workflows/${wf.id}/cancel`)).status,
      200,
      'cancel twice is harmless',
    );
    const gone = await s.call('DELETE', `/workflows/${wf.id}`);
    assert.equal(gone.status, 200);
    assert.equal(gone.body.jobs, 3);
    assert.equal((await s.call('GET', `/workflows/${wf.id}`)).status, 404);
    assert.equal((await s.call('GET', `/jobs/${wf.jobs[0].id}`)).status, 404);
  });

  test('create with state defined starts it at once; list is newest first and filters by state', async () => {
    const a = (await s.call('POST', '/workflows', { body: { dag: 'one', state: 'defined' } })).body;
    const b = (await s.call('POST', '/workflows', { body: { dag: 'pedestal-beam' } })).body;
    assert.equal(a.state, 'defined');
    assert.deepEqual(
      Object.fromEntries(b.jobs.map((j: { vertex: string; state: string }) => [j.vertex, j.state])),
      { pedestal: 'template', beam: 'template', compare: 'template' },
    );
    const all = (await s.call('GET', '/workflows')).body.workflows as { id: string }[];
    assert.ok(all.findIndex((w) => w.id === b.id) < all.findIndex((w) => w.id === a.id), 'newest first');
    const defined = (await s.call('GET', '/workflows?state=defined')).body.workflows as {
      id: string;
      state: string;
    }[];
    assert.ok(defined.some((w) => w.id === a.id));
    assert.ok(defined.every((w) => w.state === 'defined'));
    const page = await s.call('GET', '/workflows?limit=1');
    assert.equal(page.body.workflows.length, 1);
    assert.ok(page.body.nextCursor);
    const next = await s.call('GET', `/workflows?limit=1&cursor=${page.body.nextCursor}`);
    assert.notEqual(next.body.workflows[0].id, page.body.workflows[0].id);
    // several roots are all released at once
    const started = (await s.call('POST', `/workflows/${b.id}/define`)).body;
    assert.deepEqual(
      Object.fromEntries(started.jobs.map((j: { vertex: string; state: string }) => [j.vertex, j.state])),
      { pedestal: 'defined', beam: 'defined', compare: 'template' },
    );
    for (const w of [a, b]) {
      const r = await s.call('DELETE', `/workflows/${w.id}?force=true`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
  });

  test('the workflow counts reach the summary counters through the workflows stream', async () => {
    const w = (await s.call('POST', '/workflows', { body: { dag: 'one' } })).body;
    await waitFor(async () => ((await s.call('GET', '/summary')).body.workflows?.template ?? 0) >= 1, {
      what: 'workflows#template counted',
    });
    await s.call('DELETE', `/workflows/${w.id}`);
  });

  test('a DAG replaced or deleted later does not change workflows made from it', async () => {
    await addDag({ name: 'volatile', graphml: text('dags/1filter/1filter.graphml') });
    const w = (await s.call('POST', '/workflows', { body: { dag: 'volatile', fileinfo: 'sticky' } })).body;
    assert.equal((await s.call('DELETE', '/dags/volatile')).status, 200);
    const d = await s.call('POST', `/workflows/${w.id}/define`);
    assert.equal(d.status, 200);
    assert.equal(d.body.files[0].path, '/data/p3s/input.txt');
    await s.call('DELETE', `/workflows/${w.id}?force=true`);
  });
});
