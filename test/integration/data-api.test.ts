import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

let s: TestStack;
before(async () => {
  s = await startTestStack();
});
after(async () => {
  await s.close();
});

const fixture = (name: string) =>
  JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'data', name), 'utf8'));

const template = (name = 'dqm', jobtype = 'dqm') => [
  { name, jobtype, payload: 'echo $P3S_INPUT_FILE', env: { P3S_EXECMODE: 'SHELL' } },
];

async function addRule(body: Record<string, unknown>) {
  const r = await s.call('POST', '/rules', { body });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

async function register(files: unknown) {
  const r = await s.call('POST', '/data', { body: files });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.results as {
    id: string;
    location: string;
    created: boolean;
    state: string;
    jobs: string[];
    triggers: { rule: string; outcome: string; jobs?: string[] }[];
  }[];
}

const jobsOfRule = async (rule: string) =>
  ((await s.call('GET', '/jobs?limit=500')).body.jobs as Record<string, string>[]).filter(
    (j) => j.rule === rule,
  );

describe('datatypes', () => {
  test('the original datatype JSON is stored, listed, replaced by name and deleted', async () => {
    const put = await s.call('POST', '/datatypes', { body: fixture('datatype-txt.json') });
    assert.equal(put.status, 200);
    assert.equal(put.body.ext, '.txt');
    const again = await s.call('POST', '/datatypes', { body: { name: 'TXT', ext: '.text' } });
    assert.equal(again.status, 200);
    const list = (await s.call('GET', '/datatypes')).body.datatypes;
    assert.deepEqual(
      list.filter((d: { name: string }) => d.name === 'TXT').map((d: { ext: string }) => d.ext),
      ['.text'],
    );
    assert.equal((await s.call('POST', '/datatypes', { body: fixture('datatype-txt.json') })).status, 200);
    await s.call('POST', '/datatypes', { body: { name: 'GONE', ext: '.gone' } });
    assert.equal((await s.call('DELETE', '/datatypes/GONE')).status, 200);
    assert.equal((await s.call('DELETE', '/datatypes/GONE')).status, 404);
  });

  test('a datatype without the dot is a 400 naming ext, and nothing is stored', async () => {
    const r = await s.call('POST', '/datatypes', { body: { name: 'BAD', ext: 'bad' } });
    assert.equal(r.status, 400);
    assert.match(r.body.message, /^body\.ext:/);
    const list = (await s.call('GET', '/datatypes')).body.datatypes;
    assert.ok(!list.some((d: { name: string }) => d.name === 'BAD'));
  });
});

describe('registration and rules', () => {
  test('a new file fires a matching rule: its jobs get P3S_INPUT_FILE, the file lists them', async () => {
    await addRule({ name: 'txt-files', match: { datatype: 'TXT', source: 'api' }, action: template('txt') });
    const [r] = await register({ location: '/data/in//run1/./a.txt', size: 10 });
    assert.equal(r!.created, true);
    assert.equal(r!.state, 'triggered');
    assert.equal(r!.location, '/data/in/run1/a.txt');
    assert.equal(r!.jobs.length, 1);
    const job = (await s.call('GET', `/jobs/${r!.jobs[0]}`)).body;
    assert.equal(job.state, 'defined');
    assert.equal(job.env.P3S_INPUT_FILE, '/data/in/run1/a.txt');
    assert.equal(job.inputFile, '/data/in/run1/a.txt');
    assert.equal(job.rule, 'txt-files');
    assert.equal(job.dataId, r!.id);
    const d = (await s.call('GET', `/data/${r!.id}`)).body;
    assert.equal(d.datatype, 'TXT', 'datatype from the extension');
    assert.deepEqual(d.jobIds, r!.jobs);
    assert.equal(d.triggers[0].outcome, 'jobs');
    assert.equal(d.announced, 1);
  });

  test('the same file announced 3 times creates its jobs once', async () => {
    await addRule({ name: 'once', match: { pattern: 'once-*.dat' }, action: template('once') });
    const loc = 'root://Data.example.org:1094//store/once-1.dat';
    const first = await register({ location: loc, source: 'xrootd' });
    const second = await register([
      { location: 'root://data.example.org//store/once-1.dat', source: 'xrootd' },
    ]);
    const third = await register({ files: [{ location: loc, source: 'xrootd' }] });
    assert.equal(first[0]!.created, true);
    assert.equal(second[0]!.created, false);
    assert.equal(third[0]!.created, false);
    assert.deepEqual(third[0]!.jobs, first[0]!.jobs, 'a repeat answers with the jobs of the first');
    assert.equal((await jobsOfRule('once')).length, 1);
    const d = (await s.call('GET', `/data/${first[0]!.id}`)).body;
    assert.equal(d.announced, 3);
    assert.ok(d.lastAnnouncedAt >= d.registeredAt);
  });

  test('the same new file twice in one batch, and in concurrent requests, still creates jobs once', async () => {
    await addRule({ name: 'race', match: { pattern: 'race-*' }, action: template('race') });
    const batch = await register([{ location: '/r/race-1' }, { location: '/r//race-1' }]);
    assert.deepEqual(
      batch.map((r) => r.created),
      [true, false],
    );
    const concurrent = await Promise.all(
      Array.from({ length: 5 }, () => register({ location: '/r/race-2' })),
    );
    assert.equal(concurrent.filter((r) => r[0]!.created).length, 1);
    assert.equal((await jobsOfRule('race')).length, 2);
  });

  test('sampling 0.25 of 100 files keeps the same 27 files on every run, and a replay elsewhere the same', async () => {
    await addRule({
      name: 'sample',
      match: { pattern: 'sample-*.raw' },
      action: template('s'),
      sampling: 0.25,
    });
    // Fixed vector (computed once from sha256 of the name): which of sample-0 … sample-99.raw are kept.
    const KEPT = [
      1, 6, 10, 16, 20, 21, 26, 29, 40, 45, 48, 55, 56, 58, 59, 66, 71, 72, 73, 76, 77, 81, 86, 89, 90, 95,
      97,
    ];
    const files = Array.from({ length: 100 }, (_, i) => ({ location: `/data/sample-${i}.raw` }));
    const results = await register({ files });
    const keptNow = results.flatMap((r, i) => (r.state === 'triggered' ? [i] : []));
    assert.deepEqual(keptNow, KEPT);
    assert.ok(
      results.filter((r) => r.state !== 'triggered').every((r) => r.state === 'skipped'),
      'the others are skipped',
    );
    assert.ok(
      results.filter((r) => r.state === 'skipped').every((r) => r.triggers[0]!.outcome === 'sampled'),
    );
    assert.equal((await jobsOfRule('sample')).length, KEPT.length);
    // A replay under other locations and sources with the same names decides the same way.
    const replay = await register({
      files: files.map((f, i) => ({
        location: i % 2 ? `/replay${f.location}` : `root://eos.example.org//replay${f.location}`,
        source: i % 2 ? 'watch' : 'xrootd',
      })),
    });
    assert.deepEqual(
      replay.flatMap((r, i) => (r.state === 'triggered' ? [i] : [])),
      KEPT,
    );
    assert.equal((await jobsOfRule('sample')).length, 2 * KEPT.length);
  });

  test('fixed vectors: file, rule sampling 0.5 and a job type sampling 0.25 give fixed jobs, wherever the file is', async () => {
    assert.equal((await s.call('PUT', '/jobtypes/vec-cheap', { body: { sampling: 0.25 } })).status, 200);
    await addRule({
      name: 'vectors',
      match: { pattern: 'np04_*' },
      action: [...template('cheap', 'vec-cheap'), ...template('full', 'vec-full')],
      sampling: 0.5,
    });
    // name → job types of the jobs created (none: sampled out by the rule). Computed once from
    // sha256(name); a salt or hash change moves some of these.
    const VECTORS: Record<string, string[]> = {
      'np04_raw_run005141_0003_dl1.root': ['vec-cheap', 'vec-full'],
      'np04_raw_run005142_0001_dl5.root': ['vec-cheap', 'vec-full'],
      'np04_hd_run020001_0017.hdf5': ['vec-full'],
      'np04_hd_run020001_0018.hdf5': [],
      'np04_raw_run005141_0001_dl1.root': [],
      'np04_raw_run005141_0002_dl1.root': [],
    };
    const names = Object.keys(VECTORS);
    const outcome = async (rs: Awaited<ReturnType<typeof register>>) => {
      const out: Record<string, string[]> = {};
      for (const [i, r] of rs.entries()) {
        const types = [];
        for (const id of r.jobs) types.push((await s.call('GET', `/jobs/${id}`)).body.jobtype as string);
        out[names[i]!] = types.sort();
        assert.equal(r.triggers[0]!.outcome, r.jobs.length ? 'jobs' : 'sampled', names[i]);
      }
      return out;
    };
    const places = [
      (n: string) => ({ location: `root://eos.example.org//eos/np04/raw/${n}`, source: 'xrootd' }),
      (n: string) => ({ location: `s3://p3s-incoming/incoming/${n}`, source: 's3' }),
      (n: string) => ({ location: `/data/np04/replay/${n}`, source: 'watch' }),
    ];
    for (const place of places) {
      const rs = await register({ files: names.map(place) });
      assert.ok(
        rs.every((r) => r.created),
        'each place is a new file',
      );
      assert.deepEqual(await outcome(rs), VECTORS, `files at ${place('…').location}`);
    }
  });

  test("a job type's sampling fraction applies on top of the rule's", async () => {
    assert.equal((await s.call('PUT', '/jobtypes/rare', { body: { sampling: 0 } })).status, 200);
    await addRule({
      name: 'typesample',
      match: { pattern: 'ts-*' },
      action: [...template('common', 'common'), ...template('rare', 'rare')],
    });
    const [r] = await register({ location: '/d/ts-1' });
    assert.equal(r!.jobs.length, 1);
    assert.equal((await s.call('GET', `/jobs/${r!.jobs[0]}`)).body.jobtype, 'common');
  });

  test('at most K files per window: the rest are limited, and the window counter never exceeds K', async () => {
    await addRule({
      name: 'limited',
      match: { pattern: 'lim-*' },
      action: template('l'),
      limit: { files: 3, window: '1h' },
    });
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => register({ location: `/d/lim-${i}` })),
    );
    const states = results.map((r) => r[0]!.state);
    assert.equal(states.filter((x) => x === 'triggered').length, 3);
    assert.equal(states.filter((x) => x === 'skipped').length, 5);
    assert.equal((await jobsOfRule('limited')).length, 3);
  });

  test('dedupe by name: the same file name from another location triggers the rule once', async () => {
    await addRule({ name: 'byname', match: { pattern: 'bn-*' }, action: template('bn'), dedupe: 'name' });
    const a = await register({ location: 'root://xrd//data/bn-1.root', source: 'xrootd' });
    const b = await register({ location: '/data/input/bn-1.root', source: 'watch' });
    assert.equal(a[0]!.state, 'triggered');
    assert.equal(b[0]!.created, true);
    assert.equal(b[0]!.state, 'skipped');
    assert.equal(b[0]!.triggers[0]!.outcome, 'duplicate');
    assert.equal((await jobsOfRule('byname')).length, 1);
  });

  test('a disabled rule does nothing until enabled; a deleted rule is gone', async () => {
    await addRule({ name: 'toggle', match: { pattern: 'tg-*' }, action: template('tg'), enabled: false });
    assert.equal((await register({ location: '/d/tg-1' }))[0]!.state, 'unmatched');
    assert.equal((await s.call('PATCH', '/rules/toggle', { body: { enabled: true } })).body.enabled, true);
    assert.equal((await register({ location: '/d/tg-2' }))[0]!.state, 'triggered');
    assert.equal((await s.call('DELETE', '/rules/toggle')).status, 200);
    assert.equal((await s.call('GET', '/rules/toggle')).status, 404);
    assert.equal((await register({ location: '/d/tg-3' }))[0]!.state, 'unmatched');
  });

  test('a workflow rule is stored and validated; a matching file records the missing DAG as an error', async () => {
    // Workflows created by rules: test/integration/workflow-rule.test.ts.
    const rule = await addRule(fixture('rule-workflow.json'));
    assert.equal(rule.action.workflow.dag, '1filter');
    const [r] = await register({ location: '/wf/input.txt' });
    const t = r!.triggers.find((x) => x.rule === 'reco-chain') as { outcome: string; message?: string };
    assert.equal(t?.outcome, 'error');
    assert.match(t.message ?? '', /DAG 1filter not found/);
  });

  test('a rule name is unique unless replaced; the original tscan-style rule file is accepted', async () => {
    const r = fixture('rule-hitmonitor.json');
    assert.equal((await s.call('POST', '/rules', { body: r })).status, 201);
    const dup = await s.call('POST', '/rules', { body: r });
    assert.equal(dup.status, 409);
    const rep = await s.call('POST', '/rules?replace=true', { body: { ...r, sampling: 1 } });
    assert.equal(rep.status, 201);
    assert.equal(rep.body.sampling, 1);
    const got = (await s.call('GET', '/rules/hitmonitor')).body;
    assert.equal(got.limit.window, 1200);
    assert.ok(
      (await s.call('GET', '/rules')).body.rules.some((x: { name: string }) => x.name === 'hitmonitor'),
    );
  });

  test('files are listed newest first, filtered, and found by location', async () => {
    await register({ location: '/list/one.bin', source: 'watch', size: 1 });
    await register({ location: '/list/two.bin', source: 'watch', size: 2 });
    const l = (await s.call('GET', '/data?source=watch&limit=2')).body;
    assert.deepEqual(
      l.data.map((d: { name: string }) => d.name),
      ['two.bin', 'one.bin'],
    );
    const found = (await s.call('GET', `/data?location=${encodeURIComponent('/list//one.bin')}`)).body;
    assert.equal(found.data[0].size, 1);
    assert.deepEqual((await s.call('GET', '/data?location=%2Fnot%2Fthere')).body.data, []);
    const page = (await s.call('GET', '/data?limit=1')).body;
    assert.ok(page.nextCursor);
    const next = (await s.call('GET', `/data?limit=1&cursor=${page.nextCursor}`)).body;
    assert.notEqual(next.data[0].id, page.data[0].id);
  });
});

describe('bad input', () => {
  const cases: [string, string, string, unknown, RegExp][] = [
    [
      'a relative location',
      'POST',
      '/data',
      { location: 'rel/x' },
      /body\.files\[0\]\.location: location must be/,
    ],
    [
      'a batch with one bad file',
      'POST',
      '/data',
      [{ location: '/ok' }, { location: '/x', size: -3 }],
      /files\[1\]\.size/,
    ],
    ['an empty batch', 'POST', '/data', { files: [] }, /body\.files/],
    [
      'a rule with a bad job',
      'POST',
      '/rules',
      { name: 'b', action: [{ ...template()[0], jobtype: 'no way' }] },
      /body\.action\[0\]\.jobtype/,
    ],
    [
      'a rule with a bad regex',
      'POST',
      '/rules',
      { name: 'b', action: template(), match: { regex: '[' } },
      /body\.match\.regex/,
    ],
    ['an enable without a boolean', 'PATCH', '/rules/x', { enabled: 'yes' }, /body\.enabled/],
  ];
  for (const [what, method, path, body, msg] of cases) {
    test(`${what} is a 400 naming the field, and changes nothing`, async () => {
      const before = (await s.call('GET', '/data?limit=500')).body.data.length;
      const r = await s.call(method, path, { body });
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.match(r.body.message, msg);
      assert.equal((await s.call('GET', '/data?limit=500')).body.data.length, before);
    });
  }

  test('a malformed JSON body is a 400, an unknown data id a 404, a bad one a 400', async () => {
    assert.equal(
      (await s.call('POST', '/data', { raw: '{nope', headers: { 'content-type': 'application/json' } }))
        .status,
      400,
    );
    assert.equal((await s.call('GET', `/data/${'0'.repeat(32)}`)).status, 404);
    assert.equal((await s.call('GET', '/data/xyz')).status, 400);
  });

  test('roles: a viewer reads but cannot register; a submitter cannot delete rules', async () => {
    const viewer = (await s.call('POST', '/tokens', { body: { role: 'viewer', name: 'v' } })).body.token;
    const submitter = (await s.call('POST', '/tokens', { body: { role: 'submitter', name: 'sub' } })).body
      .token;
    assert.equal((await s.call('GET', '/data', { token: viewer })).status, 200);
    assert.equal((await s.call('GET', '/rules', { token: viewer })).status, 200);
    assert.equal((await s.call('POST', '/data', { token: viewer, body: { location: '/v/x' } })).status, 403);
    assert.equal(
      (await s.call('POST', '/data', { token: submitter, body: { location: '/v/x' } })).status,
      200,
    );
    await addRule({ name: 'keep', action: template(), match: { pattern: 'never-matches' } });
    assert.equal((await s.call('DELETE', '/rules/keep', { token: submitter })).status, 403);
    assert.equal(
      (await s.call('POST', '/data', { token: s.pilotToken, body: { location: '/v/y' } })).status,
      403,
    );
  });
});
