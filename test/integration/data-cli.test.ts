import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLI_BIN } from '../helpers/pilots.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

let s: TestStack;
const root = join(import.meta.dirname, '..', '..');
const fixtures = join(root, 'test', 'fixtures', 'data');

before(async () => {
  s = await startTestStack();
});
after(async () => {
  await s.close();
});

/** `p3s …` (the single-file build); resolves with exit code, stdout and stderr. */
function p3s(args: string[], cwd = root): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [CLI_BIN, ...args], {
      cwd,
      env: { ...process.env, P3S_SERVER: s.url, P3S_TOKEN: s.adminToken },
    });
    let out = '';
    let err = '';
    c.stdout.on('data', (d) => {
      out += d;
    });
    c.stderr.on('data', (d) => {
      err += d;
    });
    c.on('exit', (code) => resolve({ code, out, err }));
  });
}

describe('p3s datatype | rule | data', () => {
  test('datatype add (original JSON) / list / delete', async () => {
    const add = await p3s(['datatype', 'add', join(fixtures, 'datatype-txt.json'), '--json']);
    assert.equal(add.code, 0, add.err);
    assert.equal(JSON.parse(add.out)[0].ext, '.txt');
    assert.equal((await p3s(['datatype', 'add', '--name', 'ROOT', '--ext', '.root'])).code, 0);
    const list = JSON.parse((await p3s(['datatype', 'list', '--json'])).out);
    assert.deepEqual(
      list.map((d: { name: string }) => d.name),
      ['ROOT', 'TXT'],
    );
    assert.equal((await p3s(['datatype', 'delete', 'ROOT'])).code, 0);
    const bad = await p3s(['datatype', 'add', '--name', 'X', '--ext', 'noDot']);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /^p3s: body\.ext: must be a file extension starting with a dot/);
  });

  test('rule add from options with the original job file; list, disable, enable, delete', async () => {
    const add = await p3s([
      'rule',
      'add',
      '--name',
      'cli-rule',
      '--jobs',
      join(fixtures, 'hitmonitor-jobs.json'),
      '--prefix',
      'np04_raw',
      '--min-size',
      '1k',
      '--source',
      'api,watch',
      '--sampling',
      '1',
      '--max-files',
      '3',
      '--window',
      '20m',
      '--json',
    ]);
    assert.equal(add.code, 0, add.err);
    const r = JSON.parse(add.out);
    assert.deepEqual(r.match, { pattern: 'np04_raw*', minSize: 1024, source: ['api', 'watch'] });
    assert.deepEqual(r.limit, { files: 3, window: 1200 });
    assert.equal(r.action.jobs[0].name, 'hitmonitor');
    assert.equal(
      (await p3s(['rule', 'add', '--name', 'cli-rule', '--jobs', join(fixtures, 'hitmonitor-jobs.json')]))
        .code,
      1,
    );
    assert.equal((await p3s(['rule', 'disable', 'cli-rule'])).code, 0);
    const list = JSON.parse((await p3s(['rule', 'list', '--json'])).out);
    assert.equal(list.find((x: { name: string }) => x.name === 'cli-rule').enabled, false);
    assert.equal((await p3s(['rule', 'enable', 'cli-rule'])).code, 0);
    const human = await p3s(['rule', 'list']);
    assert.match(human.out, /cli-rule\s+yes\s+pattern=np04_raw\* minSize=1024 source=api,watch\s+1 job\(s\)/);
    const wf = await p3s(['rule', 'add', join(fixtures, 'rule-workflow.json'), '--json']);
    assert.equal(wf.code, 0, wf.err);
    assert.equal((await p3s(['rule', 'delete', 'reco-chain'])).code, 0);
  });

  test('data register a local file (absolute path and size from the file), show it, list it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'p3s-cli-data-'));
    writeFileSync(join(dir, 'np04_raw_7.root'), Buffer.alloc(2000));
    const reg = await p3s(['data', 'register', 'np04_raw_7.root', '--json'], dir);
    assert.equal(reg.code, 0, reg.err);
    const [r] = JSON.parse(reg.out);
    assert.equal(r.location, join(dir, 'np04_raw_7.root'));
    assert.equal(r.created, true);
    assert.equal(r.state, 'triggered');
    const again = await p3s(['data', 'register', join(dir, 'np04_raw_7.root')]);
    assert.match(again.out, /1 file\(s\): 0 new, 1 already registered; 0 job\(s\)/);
    const show = JSON.parse((await p3s(['data', 'show', 'np04_raw_7.root', '--json'], dir)).out);
    assert.equal(show.size, 2000);
    assert.equal(show.announced, 2);
    const byId = JSON.parse((await p3s(['data', 'show', r.id, '--json'])).out);
    assert.equal(byId.location, r.location);
    const list = JSON.parse((await p3s(['data', 'list', '--state', 'triggered', '--json'])).out);
    assert.ok(list.data.some((d: { id: string }) => d.id === r.id));
    const missing = await p3s(['data', 'show', '/not/registered.root']);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /not registered/);
  });
});
