import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Dag, validateDag } from '../../shared/core/dag/dag.ts';
import { type InstantiateOptions, instantiate, joinPath } from '../../shared/core/dag/instantiate.ts';
import { assertInvalid, fixtureDag, fixtureJson, fixtureText } from '../fixtures/dags/support.ts';

const DATATYPES = { TXT: { ext: '.txt' }, ROOT: { ext: '.root' } };

/** Ids u1, u2, … in call order, so default file names are predictable. */
function counter(): () => string {
  let n = 0;
  return () => `u${++n}`;
}

function run(dag: Dag, options: Partial<InstantiateOptions> = {}) {
  return instantiate(dag, { workflowId: 'wf1', datatypes: DATATYPES, newId: counter(), ...options });
}

const rejects = assertInvalid;

const filesOf = (dag: Dag, options: Partial<InstantiateOptions> = {}) =>
  run(dag, options).files.map((f) => `${f.source}→${f.target} ${f.path}`);

describe('jobs of a new workflow', () => {
  test('each vertex becomes one template job named after it', () => {
    const { jobs } = run(fixtureDag('chain/twostep.graphml'));
    assert.deepEqual(
      jobs.map((j) => [j.vertex, j.name, j.jobtype, j.state, j.workflowId]),
      [
        ['NOOP1', 'NOOP1', 'noop', 'template', 'wf1'],
        ['reduction', 'reduction', 'reduction', 'template', 'wf1'],
        ['reco', 'reco', 'reco', 'template', 'wf1'],
        ['NOOP2', 'NOOP2', 'noop', 'template', 'wf1'],
      ],
    );
  });

  test('a job carries its vertex payload, time limit and priority', () => {
    const reco = run(fixtureDag('chain/twostep.graphml')).jobs[2];
    assert.equal(reco?.payload, '/bin/grep -c TEST $OUTTXT > $FINTXT');
    assert.equal(reco?.timelimit, 100);
    assert.equal(reco?.priority, 1);
  });

  test("each edge's path goes into the env of both its ends under the datatag", () => {
    const { jobs } = run(fixtureDag('chain/twostep.graphml'), { fileinfo: 'sticky' });
    const env = Object.fromEntries(jobs.map((j) => [j.vertex, j.env]));
    assert.deepEqual(env.reduction, {
      P3S_EXECMODE: 'SHELL',
      INPTXT: '/data/p3s/input.txt',
      OUTTXT: '/data/p3s/output.txt',
    });
    assert.deepEqual(env.reco, {
      P3S_EXECMODE: 'SHELL',
      OUTTXT: '/data/p3s/output.txt',
      FINTXT: '/data/p3s/final.txt',
    });
    assert.deepEqual(env.NOOP2, { FINTXT: '/data/p3s/final.txt' });
  });

  test('an edge without a datatag puts nothing into the env', () => {
    const merge = run(fixtureDag('misc/gather.graphml')).jobs.find((j) => j.vertex === 'merge');
    assert.deepEqual(merge?.env, { P3S_EXECMODE: 'SHELL' });
  });

  test('the same datatag may reach a job twice when the path is the same', () => {
    const dag = validateDag(fixtureJson('json/fanout.json'));
    assert.equal(run(dag, { fileinfo: 'sticky' }).jobs[0]?.env.OUT, '/d/o.txt');
  });

  test('two different paths under one datatag of a real job are rejected', () => {
    const dag = validateDag(fixtureJson('json/fanout.json'));
    rejects(() => run(dag), /^vertex src: datatag OUT would be both \/d\/u1\.txt and \/d\/u2\.txt/);
  });

  test("an edge's path replaces a same-named variable of the vertex env", () => {
    const dag = fixtureDag('chain/twostep.graphml');
    dag.vertices[1]!.env.INPTXT = '/old/path';
    assert.equal(run(dag, { fileinfo: 'sticky' }).jobs[1]?.env.INPTXT, '/data/p3s/input.txt');
  });

  test('an edge whose datatype is not registered is rejected', () => {
    rejects(
      () => run(fixtureDag('misc/defaults.graphml', 'p'), { datatypes: { TXT: { ext: '.txt' } } }),
      'edge 1 (NOOP1→purity): unknown datatype ROOT',
    );
  });

  test('a datatype called constructor is not found on the object prototype', () => {
    const dag = fixtureDag('chain/twostep.graphml');
    for (const e of dag.edges) e.datatype = 'constructor';
    rejects(() => run(dag), /unknown datatype constructor/);
  });

  test('datatypes may be given as a Map', () => {
    const files = run(fixtureDag('chain/twostep.graphml'), {
      datatypes: new Map([['TXT', { ext: '.dat' }]]),
    }).files;
    assert.equal(files[0]?.name, 'u1.dat');
  });
});

describe('fileinfo policies', () => {
  test('by default each file is named with a fresh id and the datatype extension', () => {
    assert.deepEqual(filesOf(fixtureDag('chain/twostep.graphml')), [
      'NOOP1→reduction /data/p3s/u1.txt',
      'reduction→reco /data/p3s/u2.txt',
      'reco→NOOP2 /data/p3s/u3.txt',
    ]);
  });

  test('a default file name is the id of the file plus the extension', () => {
    const files = run(fixtureDag('chain/twostep.graphml')).files;
    assert.deepEqual(
      files.map((f) => [f.id, f.name]),
      [
        ['u1', 'u1.txt'],
        ['u2', 'u2.txt'],
        ['u3', 'u3.txt'],
      ],
    );
  });

  test('without an injected generator every file gets a distinct uuid', () => {
    const files = instantiate(fixtureDag('3filters/3filters.graphml'), {
      workflowId: 'w',
      datatypes: DATATYPES,
    }).files;
    assert.equal(new Set(files.map((f) => f.name)).size, 6);
    for (const f of files) assert.match(f.name, /^[0-9a-f-]{36}\.txt$/);
  });

  test('sticky names each file after its edge', () => {
    assert.deepEqual(filesOf(fixtureDag('chain/twostep.graphml'), { fileinfo: 'sticky' }), [
      'NOOP1→reduction /data/p3s/input.txt',
      'reduction→reco /data/p3s/output.txt',
      'reco→NOOP2 /data/p3s/final.txt',
    ]);
  });

  test('sticky is rejected for an edge without a name', () => {
    const dag = fixtureDag('chain/twostep.graphml');
    dag.edges[1]!.name = '';
    rejects(() => run(dag, { fileinfo: 'sticky' }), 'fileinfo sticky: edge 2 (reduction→reco) has no name');
  });

  test('inherit:X names files X:dag:source:datatag plus the extension', () => {
    assert.deepEqual(filesOf(fixtureDag('chain/twostep.graphml'), { fileinfo: 'inherit:run5141' }), [
      'NOOP1→reduction /data/p3s/run5141:twostep:NOOP1:INPTXT.txt',
      'reduction→reco /data/p3s/run5141:twostep:reduction:OUTTXT.txt',
      'reco→NOOP2 /data/p3s/run5141:twostep:reco:FINTXT.txt',
    ]);
  });

  test('inherit without a name is rejected', () => {
    rejects(() => run(fixtureDag('chain/twostep.graphml'), { fileinfo: 'inherit:' }), /needs a name/);
  });

  test('a JSON fileinfo overrides only the fields it gives, for the edges it lists', () => {
    const dag = fixtureDag('chain/twostep.graphml');
    const files = run(dag, { fileinfo: { 'reduction:reco': { dirpath: '/scratch' } } }).files;
    assert.deepEqual(
      files.map((f) => [f.name, f.dirpath, f.comment]),
      [
        ['u1.txt', '/data/p3s/', 'Simulated input'],
        ['u2.txt', '/scratch', 'Simulated reduction output'],
        ['u3.txt', '/data/p3s/', 'Simulated reco output'],
      ],
    );
  });

  test("the original's 3filters fileinfo names the three outputs", () => {
    const fileinfo = fixtureText('3filters/fileinfo_3filters_mod.json');
    const files = run(fixtureDag('3filters/3filters_mod.graphml'), { fileinfo }).files;
    assert.deepEqual(
      files.map((f) => f.path),
      [
        '/data/p3s/input.txt',
        '/data/p3s/input.txt',
        '/data/p3s/input.txt',
        '/data/p3s/output1.txt',
        '/data/p3s/output2.txt',
        '/data/p3s/output3.txt',
      ],
    );
    assert.equal(files[3]?.comment, 'Output from the *filter*');
  });

  test('a dirpath without a trailing slash still yields a proper path', () => {
    const fileinfo = fixtureJson('1filter/fileinfo_1filter_m.json') as Record<string, unknown>;
    assert.deepEqual(filesOf(fixtureDag('1filter/1filter.graphml'), { fileinfo }), [
      'NOOP1→filter /data/p3s/run5141/u1.txt',
      'filter→NOOP2 /data/p3s/run5141/out/u2.txt',
    ]);
  });

  test('fileinfo as JSON text works like the object', () => {
    const text = fixtureText('1filter/fileinfo_1filter_m.json');
    const dag = fixtureDag('1filter/1filter.graphml');
    assert.deepEqual(filesOf(dag, { fileinfo: text }), filesOf(dag, { fileinfo: JSON.parse(text) }));
  });

  test('a source:target key applies to every parallel edge of that pair', () => {
    const files = run(fixtureDag('misc/wfmulti.graphml'), {
      fileinfo: { 'adc:adcViz': { dirpath: '/viz' } },
    }).files;
    assert.deepEqual(
      files.map((f) => f.path),
      ['/viz/u1.txt', '/viz/u2.txt', '/data/p3s/adc/u3.txt'],
    );
  });

  test('a source:target:k key picks the k-th parallel edge, counted from 0, and refines the pair entry', () => {
    const fileinfo = { 'adc:adcViz': { dirpath: '/viz' }, 'adc:adcViz:1': { name: 'rms-run5141.txt' } };
    const files = run(fixtureDag('misc/wfmulti.graphml'), { fileinfo }).files;
    assert.deepEqual(
      files.map((f) => f.path),
      ['/viz/u1.txt', '/viz/rms-run5141.txt', '/data/p3s/adc/u3.txt'],
    );
  });

  test('a fileinfo key for an edge the DAG does not have is rejected', () => {
    rejects(
      () => run(fixtureDag('misc/wfmulti.graphml'), { fileinfo: { 'adc:adcViz:2': { name: 'x' } } }),
      'fileinfo: DAG wfmulti has no edge adc:adcViz:2',
    );
  });

  test('a fileinfo entry with an unknown field is rejected', () => {
    rejects(
      () => run(fixtureDag('chain/twostep.graphml'), { fileinfo: { 'NOOP1:reduction': { dirPath: '/x' } } }),
      /^fileinfo NOOP1:reduction: Unrecognized key: "dirPath"/,
    );
  });

  test('a fileinfo word that is not a policy is rejected', () => {
    rejects(
      () => run(fixtureDag('chain/twostep.graphml'), { fileinfo: 'stiky' }),
      /^fileinfo "stiky": expected/,
    );
  });

  test('fileinfo that looks like JSON but does not parse is rejected', () => {
    rejects(
      () => run(fixtureDag('chain/twostep.graphml'), { fileinfo: '{"NOOP1:reduction":' }),
      /^fileinfo is not valid JSON/,
    );
  });

  test('empty or null fileinfo means the default', () => {
    const dag = fixtureDag('chain/twostep.graphml');
    assert.deepEqual(filesOf(dag, { fileinfo: '' }), filesOf(dag));
    assert.deepEqual(filesOf(dag, { fileinfo: null }), filesOf(dag));
  });
});

describe('jobinfo overrides', () => {
  test('jobinfo env is merged into the vertex env, not replacing it', () => {
    const jobinfo = fixtureText('1filter/jobinfo_1filter.json');
    const filter = run(fixtureDag('1filter/1filter.graphml'), { jobinfo }).jobs[1];
    assert.equal(filter?.env.P3S_EXECMODE, 'SHELL');
    assert.equal(filter?.env.P3S_NEVENTS, '10');
  });

  test('jobinfo env wins over the vertex env for the same variable', () => {
    const jobinfo = { filter: { env: { P3S_EXECMODE: 'DIRECT' } } };
    assert.equal(run(fixtureDag('1filter/1filter.graphml'), { jobinfo }).jobs[1]?.env.P3S_EXECMODE, 'DIRECT');
  });

  test('jobinfo replaces payload, priority and time limit', () => {
    const jobinfo = { reco: { payload: '/bin/reco2.sh', priority: 9, timelimit: 60 } };
    const reco = run(fixtureDag('chain/twostep.graphml'), { jobinfo }).jobs[2];
    assert.deepEqual([reco?.payload, reco?.priority, reco?.timelimit], ['/bin/reco2.sh', 9, 60]);
  });

  test('jobinfo leaves the other vertices alone', () => {
    const dag = fixtureDag('chain/twostep.graphml');
    const jobinfo = { reco: { payload: '/bin/reco2.sh' } };
    assert.deepEqual(run(dag, { jobinfo }).jobs[1], run(dag).jobs[1]);
  });

  test('jobinfo for a vertex the DAG does not have is rejected', () => {
    rejects(
      () => run(fixtureDag('chain/twostep.graphml'), { jobinfo: { recoo: { priority: 1 } } }),
      'jobinfo: DAG twostep has no vertex recoo',
    );
  });

  test('jobinfo that empties the payload of a real job is rejected', () => {
    rejects(
      () => run(fixtureDag('chain/twostep.graphml'), { jobinfo: { reco: { payload: '' } } }),
      'jobinfo: vertex reco would have an empty payload',
    );
  });

  test('jobinfo that is not a JSON object is rejected', () => {
    rejects(
      () => run(fixtureDag('chain/twostep.graphml'), { jobinfo: '["reco"]' }),
      'jobinfo must be a JSON object',
    );
  });
});

describe('joining a dirpath and a file name', () => {
  test('a missing slash is added', () => {
    assert.equal(joinPath('/data/p3s', 'a.txt'), '/data/p3s/a.txt');
  });

  test('a trailing slash is not doubled', () => {
    assert.equal(joinPath('/data/p3s/', 'a.txt'), '/data/p3s/a.txt');
  });

  test('an empty dirpath leaves the bare name', () => {
    assert.equal(joinPath('', 'a.txt'), 'a.txt');
  });

  test('an XRootD URL keeps the double slash after the host', () => {
    assert.equal(
      joinPath('root://eospublic.cern.ch//eos/np04/dqm', 'a.root'),
      'root://eospublic.cern.ch//eos/np04/dqm/a.root',
    );
    assert.equal(
      joinPath('root://eospublic.cern.ch//eos/np04/dqm/', 'a.root'),
      'root://eospublic.cern.ch//eos/np04/dqm/a.root',
    );
  });

  test('an S3 URL keeps its scheme slashes', () => {
    assert.equal(joinPath('s3://np04-dqm/beam/', 'b.txt'), 's3://np04-dqm/beam/b.txt');
    assert.equal(joinPath('s3://np04-dqm', 'b.txt'), 's3://np04-dqm/b.txt');
  });

  test('S3 dirpaths from a JSON DAG end up in the env of both ends', () => {
    const dag = validateDag(fixtureJson('json/tworoots.json'));
    const compare = run(dag, { fileinfo: 'sticky' }).jobs[2];
    assert.equal(compare?.env.PEDTXT, 's3://np04-dqm/pedestal/pedestal.txt');
    assert.equal(compare?.env.BEAMTXT, 's3://np04-dqm/beam/beam.txt');
  });
});
