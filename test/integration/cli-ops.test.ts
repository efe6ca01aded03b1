import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli } from '../helpers/pilots.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

/** The operator's CLI: sites from the original site JSON, list filters that take lists, `show` order. */
let s: TestStack;
const root = join(import.meta.dirname, '..', '..');

before(async () => {
  s = await startTestStack();
});
after(async () => {
  await s.close();
});

/** `p3s …` (the single-file build) against this stack, as the admin unless a token is given. */
const p3s = (args: string[], token = s.adminToken) => runCli(s.url, token, args);

describe('p3s site', () => {
  test('set from the original site JSON, change one field by name, list, show, delete', async () => {
    const set = await p3s(['site', 'set', join(root, 'examples', 'sites', 'local.json'), '--json']);
    assert.equal(set.code, 0, set.stderr);
    const [local] = JSON.parse(set.stdout);
    assert.equal(local.name, 'local');
    assert.equal(local.pilotperiod, 5);
    assert.deepEqual(local.env, { P3S_SITE: 'local', P3S_DIRPATH: '/tmp/p3s-examples' });

    // The original files wrote numbers as strings too, and could hold several sites.
    const dir = mkdtempSync(join(tmpdir(), 'p3s-site-'));
    const file = join(dir, 'sites.json');
    writeFileSync(
      file,
      JSON.stringify([
        {
          name: 'lxvm',
          pilots: '120',
          pilotcycles: '0',
          pilotperiod: '40',
          pilotbeat: '100',
          env: { P3S_SITE: 'lxvm' },
        },
        { name: 'sagebrush', pilots: 5, pilotperiod: 5, pilotbeat: 5 },
      ]),
    );
    assert.equal((await p3s(['site', 'set', file])).code, 0);

    // By name: only the given fields change.
    const period = await p3s([
      'site',
      'set',
      '--name',
      'lxvm',
      '--period',
      '20',
      '--env',
      'EXTRA=1',
      '--json',
    ]);
    assert.equal(period.code, 0, period.stderr);
    const lxvm = JSON.parse(period.stdout)[0];
    assert.equal(lxvm.pilotperiod, 20);
    assert.equal(lxvm.pilots, 120, 'other fields kept');
    assert.deepEqual(lxvm.env, { P3S_SITE: 'lxvm', EXTRA: '1' });

    const list = await p3s(['site', 'list', '--json']);
    assert.deepEqual(
      JSON.parse(list.stdout).map((x: { name: string }) => x.name),
      ['local', 'lxvm', 'sagebrush'],
    );
    const human = await p3s(['site', 'list']);
    assert.match(human.stdout.split('\n')[0]!, /^NAME\s+PILOTS\s+PILOTCYCLES\s+PILOTPERIOD/);

    const show = await p3s(['site', 'show', 'lxvm']);
    assert.equal(show.code, 0);
    assert.deepEqual(
      show.stdout
        .trim()
        .split('\n')
        .map((l) => l.split(/\s+/)[0]),
      ['name', 'pilots', 'pilotcycles', 'pilotperiod', 'pilotbeat', 'env', 'updatedAt'],
    );

    // Delete: operator only; then it is gone.
    const viewer = (await s.call('POST', '/tokens', { body: { role: 'viewer' } })).body.token;
    const refused = await p3s(['site', 'delete', 'sagebrush'], viewer);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /HTTP 403/);
    assert.equal((await p3s(['site', 'delete', 'sagebrush'])).code, 0);
    assert.equal((await s.call('GET', '/sites/sagebrush')).status, 404);
    const again = await p3s(['site', 'delete', 'sagebrush']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^p3s: site sagebrush not found \(HTTP 404\)/);
  });

  test('bad site input is a 400 naming the field and stores nothing', async () => {
    const r = await s.call('PUT', '/sites/bad', { body: { pilotperiod: 'often' } });
    assert.equal(r.status, 400);
    assert.match(r.body.message, /pilotperiod/);
    assert.equal((await s.call('GET', '/sites/bad')).status, 404);
    const cli = await p3s(['site', 'set', '--period', '5']);
    assert.equal(cli.code, 1);
    assert.match(cli.stderr, /give a site JSON file or --name/);
  });
});

describe('list filters take lists', () => {
  test('job list --type a,b lists jobs of both types and no other', async () => {
    const body = ['ta', 'tb', 'tc'].map((jobtype) => ({
      name: `list-${jobtype}`,
      jobtype,
      payload: '/bin/true',
      state: 'held',
    }));
    const submitted = await s.call('POST', '/jobs', { body });
    assert.equal(submitted.status, 201, JSON.stringify(submitted.body));
    const r = await p3s(['job', 'list', '--type', 'ta,tb', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      JSON.parse(r.stdout)
        .jobs.map((j: { jobtype: string }) => j.jobtype)
        .sort(),
      ['ta', 'tb'],
    );
    const both = await s.call('GET', '/jobs?state=defined,finished&jobtype=tc,ta');
    assert.deepEqual(both.body.jobs.map((j: { jobtype: string }) => j.jobtype).sort(), ['ta', 'tc']);
    const bad = await s.call('GET', '/jobs?jobtype=ta,no%20spaces');
    assert.equal(bad.status, 400);
    assert.match(bad.body.message, /^query\.jobtype\[1\]/);
  });

  test('pilot, workflow and data lists take lists too', async () => {
    assert.equal((await s.call('GET', '/pilots?state=active,waiting&site=a,b')).status, 200);
    assert.equal((await s.call('GET', '/workflows?state=running,failed')).status, 200);
    const files = await s.call('POST', '/data', { body: [{ location: '/d/x1.raw' }] });
    assert.equal(files.status, 200);
    const data = await s.call('GET', '/data?state=unmatched,triggered&source=api,watch');
    assert.equal(data.status, 200);
    assert.ok(data.body.data.some((d: { location: string }) => d.location === '/d/x1.raw'));
    assert.equal((await s.call('GET', '/data?state=triggered,skipped')).body.data.length, 0);
    assert.equal((await s.call('GET', '/pilots?state=active,flying')).status, 400);
  });

  test('job show prints the id first, then the fields in the monitor order', async () => {
    const submitted = await s.call('POST', '/jobs', {
      body: [{ name: 'order', jobtype: 'ta', payload: '/bin/true', state: 'held' }],
    });
    assert.equal(submitted.status, 201, JSON.stringify(submitted.body));
    const [job] = submitted.body;
    const r = await p3s(['job', 'show', job.id, '--json']);
    const keys = Object.keys(JSON.parse(r.stdout));
    assert.deepEqual(keys.slice(0, 5), ['id', 'name', 'state', 'jobtype', 'payload']);
    const human = await p3s(['job', 'show', job.id]);
    assert.match(human.stdout, /^id\s+[0-9a-f-]{36}\nname\s+order\nstate\s+defined\n/);
  });
});
