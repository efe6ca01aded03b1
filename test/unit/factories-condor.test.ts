/**
 * scripts/factories/p3s-pilot.condor and p3s-condor-submit. There is no HTCondor here (not even
 * `condor_submit -dry-run`), so the template is checked by a small model of the submit language
 * (macros with defaults, `$Fnx()`, command-line NAME=value counting as if at the top of the file,
 * the "new syntax" for arguments and environment), and the wrapper with stand-in programs.
 */
import assert from 'node:assert/strict';
import { lstatSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  FACTORIES,
  type FakeApi,
  type Fakes,
  makeFakes,
  runFactory,
  startFakeApi,
} from './factories-fakes.ts';

const TEMPLATE = join(FACTORIES, 'p3s-pilot.condor');
const PREDEFINED = new Set(['clusterid', 'procid', 'cluster', 'process']);

interface Submit {
  commands: Map<string, string>;
  queue: string;
}

/** Lines of a submit description: `name = value` (names are case-insensitive) and a final `queue`. */
function parseSubmit(text: string): Submit {
  const commands = new Map<string, string>();
  let queue = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    assert.equal(queue, '', `nothing may follow queue: ${line}`);
    const q = /^queue\b\s*(.*)$/i.exec(line);
    if (q) {
      queue = q[1] ?? '';
      continue;
    }
    const m = /^([+A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.*)$/.exec(line);
    assert.ok(m, `not a submit command: ${line}`);
    commands.set(m[1]!.toLowerCase(), m[2]!);
  }
  assert.ok(queue, 'a queue statement');
  return { commands, queue };
}

/** Expands $(NAME), $(NAME:default) and $Fnx(NAME) the way condor_submit does (the subset we use). */
function expand(value: string, vars: Map<string, string>, depth = 0): string {
  assert.ok(depth < 10, 'macro recursion');
  return value.replace(
    /\$(Fnx)?\(([A-Za-z_][A-Za-z0-9_]*)(?::([^)]*))?\)/g,
    (_all, fn, name: string, dflt) => {
      const key = name.toLowerCase();
      const raw = vars.get(key);
      assert.ok(raw !== undefined || dflt !== undefined, `$(${name}) has no value and no default`);
      const v = raw !== undefined ? expand(raw, vars, depth + 1) : dflt;
      return fn ? basename(v) : v;
    },
  );
}

/** HTCondor's "new syntax": the whole value in "…" ("" for "), words split on blanks, '…' groups ('' for '). */
function newSyntaxWords(value: string): string[] {
  assert.match(value, /^".*"$/s, `new syntax must be double-quoted: ${value}`);
  const s = value.slice(1, -1).replace(/""/g, '"');
  const words: string[] = [];
  let cur: string | undefined;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === "'") {
      cur ??= '';
      for (i++; i < s.length; i++) {
        if (s[i] === "'" && s[i + 1] === "'") {
          cur += "'";
          i++;
        } else if (s[i] === "'") break;
        else cur += s[i];
      }
    } else if (c === ' ' || c === '\t') {
      if (cur !== undefined) words.push(cur);
      cur = undefined;
    } else cur = (cur ?? '') + c;
  }
  if (cur !== undefined) words.push(cur);
  return words;
}

/** The job condor_submit would make from the template and a p3s-condor-submit command line. */
function job(command: string[], ids = { ClusterId: '77', ProcId: '3' }) {
  assert.equal(command[0], 'condor_submit');
  assert.equal(command.at(-1), TEMPLATE);
  const vars = new Map<string, string>([
    ['clusterid', ids.ClusterId],
    ['procid', ids.ProcId],
  ]);
  for (const a of command.slice(1, -1)) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(a);
    if (m) vars.set(m[1]!.toLowerCase(), m[2]!);
  }
  const { commands, queue } = parseSubmit(readFileSync(TEMPLATE, 'utf8'));
  for (const [k, v] of commands) vars.set(k, v);
  const get = (k: string) => expand(commands.get(k) ?? '', vars);
  return {
    vars,
    get,
    queue: expand(queue, vars),
    arguments: newSyntaxWords(get('arguments')),
    environment: Object.fromEntries(
      newSyntaxWords(get('environment')).map((e) => [
        e.slice(0, e.indexOf('=')),
        e.slice(e.indexOf('=') + 1),
      ]),
    ),
    inputs: get('transfer_input_files')
      .split(',')
      .map((x) => x.trim()),
  };
}

const TOKEN = 'p3s_pilottoken_s3cr3t';
let fakes: Fakes;
let pilotBundle: string;
let tokenFile: string;

before(() => {
  fakes = makeFakes();
  pilotBundle = join(fakes.dir, 'p3s-pilot.mjs');
  writeFileSync(pilotBundle, '// stand-in bundle\n');
  tokenFile = fakes.tokenFile(TOKEN);
  fakes.recorder('condor_submit', 'echo "1234.0 - 1234.2"');
});
after(() => fakes.remove());

const submit = (args: string[], env: Record<string, string> = {}) =>
  runFactory(fakes, 'p3s-condor-submit', ['--token-file', tokenFile, '--pilot', pilotBundle, ...args], {
    env,
  });

describe('p3s-pilot.condor', () => {
  test('has the shape of a pilot submit description: MaxRuntime, getenv, file transfer, queue $(N)', () => {
    const { commands, queue } = parseSubmit(readFileSync(TEMPLATE, 'utf8'));
    for (const k of [
      'universe',
      'executable',
      'arguments',
      'environment',
      'getenv',
      '+maxruntime',
      'transfer_input_files',
    ])
      assert.ok(commands.has(k), `sets ${k}`);
    assert.equal(commands.get('should_transfer_files'), 'YES');
    assert.equal(commands.get('transfer_executable'), 'false');
    assert.equal(commands.get('kill_sig'), 'SIGTERM');
    assert.match(commands.get('arguments')!, /--extra \$\(ClusterId\)\.\$\(ProcId\)/);
    assert.match(queue, /^\$\(N(:\d+)?\)$/);
  });

  test('never assigns a macro the command line sets (NAME=value counts as if at the top of the file)', () => {
    const { commands } = parseSubmit(readFileSync(TEMPLATE, 'utf8'));
    const text = readFileSync(TEMPLATE, 'utf8');
    const uses = [...text.matchAll(/\$(?:Fnx)?\(([A-Za-z_]+)(:[^)]*)?\)/g)].filter(
      (m) => !m[0].startsWith('#'),
    );
    for (const m of uses) {
      const name = m[1]!.toLowerCase();
      if (PREDEFINED.has(name) || commands.has(name)) continue;
      assert.ok(m[2] !== undefined, `$(${m[1]}) needs a default`);
    }
    for (const name of [
      'n',
      'server',
      'site',
      'pilot',
      'token_file',
      'logdir',
      'cycles',
      'lifetime',
      'maxruntime',
    ])
      assert.ok(!commands.has(name), `${name} is not assigned in the file`);
    // Commands and macros share one namespace: `getenv = $(GETENV:True)` would define itself.
    for (const [k, v] of commands) {
      const self = new RegExp(`\\$(Fnx)?\\(${k.replace('+', '\\+')}[:)]`, 'i');
      assert.ok(!self.test(v), `${k} refers to itself`);
    }
  });

  test('with no settings at all, one pilot runs against the local default server', () => {
    const j = job(['condor_submit', TEMPLATE]);
    assert.equal(j.queue, '1');
    assert.deepEqual(j.arguments, [
      'p3s-pilot.mjs',
      '--server',
      'http://127.0.0.1:8080',
      '--cycles',
      '0',
      '--lifetime',
      '0',
      '--extra',
      '77.3',
    ]);
    assert.deepEqual(j.environment, { P3S_HOME: '.', P3S_TOKEN: '', P3S_SITE: '' });
    assert.equal(j.get('+maxruntime'), '86400');
    assert.equal(j.get('getenv'), 'True');
  });
});

describe('p3s-condor-submit', () => {
  test('writes a condor_submit command whose jobs run the pilot with --extra ClusterId.ProcId', async () => {
    const r = await submit([
      '-n',
      '4',
      '--site',
      'lxbatch',
      '--server',
      'https://p3s.example.org',
      '--cycles',
      '10',
      '--maxruntime',
      '7200',
      '--dry-run',
      '--json',
      '--',
      '--beat',
      '3',
      `it's "quoted"`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const cmd: string[] = r.json.command;
    assert.deepEqual(cmd.slice(0, 4), ['condor_submit', '-terse', '-batch-name', 'p3s-pilot-lxbatch']);
    const j = job(cmd);
    assert.equal(j.queue, '4');
    assert.deepEqual(j.arguments, [
      'p3s-pilot.mjs',
      '--server',
      'https://p3s.example.org',
      '--cycles',
      '10',
      '--lifetime',
      '0',
      '--extra',
      '77.3',
      '--beat',
      '3',
      `it's "quoted"`,
    ]);
    assert.deepEqual(j.inputs, [pilotBundle, tokenFile]);
    assert.equal(j.environment.P3S_SITE, 'lxbatch');
    assert.equal(j.environment.P3S_TOKEN, '', 'a submitter token is blanked');
    assert.equal(j.get('+maxruntime'), '7200');
    assert.ok(!cmd.join(' ').includes(TOKEN));
  });

  test('queues the cluster, prints its id, and keeps the token out of condor_submit’s environment', async () => {
    const r = await submit(['-n', '3', '--json'], { P3S_TOKEN: 'p3s_admin_secret' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.clusterId, '1234');
    assert.equal(r.json.jobs, '1234.0-1234.2');
    assert.equal(fakes.env('condor_submit').P3S_TOKEN, undefined);
  });

  test('a token file not named pilot.token is linked as one, not copied', async () => {
    const other = fakes.tokenFile(TOKEN, 'site-a.token');
    const r = await runFactory(fakes, 'p3s-condor-submit', [
      '-n',
      '1',
      '--site',
      'a',
      '--token-file',
      other,
      '--pilot',
      pilotBundle,
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const args = fakes.args('condor_submit');
    const link = args.find((a) => a.startsWith('TOKEN_FILE='))!.slice('TOKEN_FILE='.length);
    assert.equal(basename(link), 'pilot.token');
    assert.ok(lstatSync(link).isSymbolicLink());
    assert.equal(readlinkSync(link), other);
  });

  describe('--target', () => {
    let api: FakeApi;
    before(async () => {
      api = await startFakeApi([
        { id: 'a', state: 'waiting', site: 'lxbatch', extra: '5.0' },
        { id: 'b', state: 'running', site: 'lxbatch', extra: '5.1' },
      ]);
      // 5.0 and 5.1 run pilots a and b; 5.2 is idle; 6.0 is held; 6.1 runs but has not registered.
      fakes.program(
        'condor_q',
        `printf '%s\\0' "$@" > "${fakes.dir}/condor_q.args"\nprintf '5 0 2\\n5 1 2\\n5 2 1\\n6 0 5\\n6 1 2\\n'`,
      );
    });
    after(() => api.close());

    test('counts idle and held jobs as pending and queues only the difference', async () => {
      const viewer = fakes.tokenFile('viewer-token', 'viewer.token');
      const r = await submit([
        '--target',
        '8',
        '--site',
        'lxbatch',
        '--server',
        api.url,
        '--api-token-file',
        viewer,
        '--json',
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.json.topup, {
        site: 'lxbatch',
        target: 8,
        live: 2,
        draining: 0,
        pending: 2,
        starting: 1,
        submit: 3,
      });
      assert.ok(fakes.args('condor_submit').includes('N=3'));
      assert.match(r.stderr, /1 held job\(s\) of p3s-pilot-lxbatch/);
      assert.match(fakes.args('condor_q').join(' '), /JobBatchName == "p3s-pilot-lxbatch"/);
    });
  });
});
