/**
 * scripts/factories/p3s-slurm-submit with stand-in sbatch/squeue programs and a fake API: the
 * sbatch command and batch script it builds, what the batch script hands the pilot, and the
 * top-up arithmetic. The real Slurm run is test/e2e/slurm-factory.test.ts.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type FakeApi, type Fakes, makeFakes, runFactory, startFakeApi } from './factories-fakes.ts';

const TOKEN = 'p3s_pilottoken_s3cr3t';
let fakes: Fakes;
let pilotBundle: string;
let tokenFile: string;
let viewerTokenFile: string;

before(() => {
  fakes = makeFakes();
  pilotBundle = join(fakes.dir, 'p3s-pilot.mjs');
  writeFileSync(pilotBundle, '// stand-in bundle\n');
  tokenFile = fakes.tokenFile(TOKEN);
  viewerTokenFile = fakes.tokenFile('viewer-token', 'viewer.token');
  fakes.recorder('sbatch', 'echo 4242');
});
after(() => fakes.remove());

const submit = (args: string[], env: Record<string, string> = {}) =>
  runFactory(fakes, 'p3s-slurm-submit', ['--token-file', tokenFile, '--pilot', pilotBundle, ...args], {
    env,
  });

/** Runs a generated batch script as Slurm would, with a fake `node` that reports what it got. */
function runBatchScript(
  script: string,
  env: Record<string, string>,
): Promise<{ token: string; args: string[] }> {
  const file = join(fakes.dir, 'batch.sh');
  writeFileSync(file, script, { mode: 0o755 });
  const nodeBin = join(fakes.dir, 'nodebin');
  mkdirSync(nodeBin, { recursive: true });
  writeFileSync(join(nodeBin, 'node'), `#!/bin/sh\nprintf '%s\\n' "$P3S_TOKEN"\nprintf '%s\\0' "$@"\n`, {
    mode: 0o755,
  });
  return new Promise((resolve, reject) => {
    execFile(
      '/bin/bash',
      [file],
      { env: { PATH: `${nodeBin}:/usr/bin:/bin`, ...env } },
      (err, stdout, stderr) =>
        err
          ? reject(new Error(`${err.message}\n${stderr}`))
          : resolve({
              token: stdout.slice(0, stdout.indexOf('\n')),
              args: stdout
                .slice(stdout.indexOf('\n') + 1)
                .split('\0')
                .slice(0, -1),
            }),
    );
  });
}

describe('p3s-slurm-submit -n', () => {
  test('submits one job array with SIGTERM 60 s before the limit and the script on stdin', async () => {
    const r = await submit([
      '-n',
      '3',
      '--site',
      'lxbatch',
      '--partition',
      'short',
      '--time',
      '01:00:00',
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.jobId, '4242');
    assert.equal(r.json.submitted, 3);
    assert.equal(r.json.tasks, '4242_[1-3]');
    assert.deepEqual(fakes.args('sbatch'), [
      '--parsable',
      '--job-name=p3s-pilot-lxbatch',
      '--array=1-3',
      `--output=${join(fakes.dir, 'p3s-slurm-logs')}/%x-%A_%a.out`,
      '--signal=B:TERM@60',
      '--partition=short',
      '--time=01:00:00',
    ]);
    assert.match(fakes.stdin('sbatch'), /^#!\/bin\/bash\n/);
  });

  test('the batch script execs the pilot with its array task as --extra and the token only in its environment', async () => {
    const r = await submit([
      '-n',
      '2',
      '--site',
      'lxbatch',
      '--cycles',
      '5',
      '--lifetime',
      '3600',
      '--',
      '--beat',
      '3',
      "it's",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const script = fakes.stdin('sbatch');
    assert.ok(!script.includes(TOKEN), 'the token itself is not in the batch script');
    assert.ok(!fakes.args('sbatch').join(' ').includes(TOKEN));
    const got = await runBatchScript(script, {
      SLURM_ARRAY_JOB_ID: '4242',
      SLURM_ARRAY_TASK_ID: '2',
      SLURM_JOB_ID: '4244',
    });
    assert.equal(got.token, TOKEN);
    assert.deepEqual(got.args, [
      pilotBundle,
      '--server',
      'http://127.0.0.1:8080',
      '--site',
      'lxbatch',
      '--cycles',
      '5',
      '--lifetime',
      '3600',
      '--beat',
      '3',
      "it's",
      '--extra',
      '4242_2',
    ]);
  });

  test('a token in the submitter environment does not reach sbatch', async () => {
    const r = await submit(['-n', '1'], { P3S_TOKEN: 'p3s_admin_secret' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fakes.env('sbatch').P3S_TOKEN, undefined);
  });

  test('--dry-run prints the command and script and submits nothing', async () => {
    fakes.recorder('sbatch', 'echo "called" >&2; exit 99');
    try {
      const r = await submit(['-n', '2', '--dry-run', '--json']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.json.dryRun, true);
      assert.equal(r.json.command[0], 'sbatch');
      assert.ok(r.json.command.includes('--array=1-2'));
      assert.match(r.json.script, /--extra "\$\{SLURM_ARRAY_JOB_ID\}_\$\{SLURM_ARRAY_TASK_ID\}"/);
      const human = await submit(['-n', '2', '--dry-run']);
      assert.match(human.stdout, /^# would run/);
      assert.match(human.stdout, /sbatch --parsable --job-name=p3s-pilot --array=1-2/);
    } finally {
      fakes.recorder('sbatch', 'echo 4242');
    }
  });

  test('a token file others can read is used with a warning', async () => {
    const loose = fakes.tokenFile(TOKEN, 'loose.token', 0o644);
    const r = await runFactory(fakes, 'p3s-slurm-submit', [
      '-n',
      '1',
      '--token-file',
      loose,
      '--pilot',
      pilotBundle,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /can be read by others \(mode 644\): chmod 600/);
  });

  test('bad usage exits 2 and a missing token file exits 1, both with a one-line reason', async () => {
    for (const args of [[], ['-n', '0'], ['-n', '2', '--target', '3'], ['-n', 'x'], ['-n', '1', '--bogus']]) {
      const r = await submit(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^p3s-slurm-submit: .+ \(see --help\)\n$/);
    }
    const r = await runFactory(fakes, 'p3s-slurm-submit', [
      '-n',
      '1',
      '--token-file',
      '/nonexistent/t',
      '--pilot',
      pilotBundle,
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no pilot token file \/nonexistent\/t/);
  });
});

describe('p3s-slurm-submit --target', () => {
  let api: FakeApi;
  before(async () => {
    api = await startFakeApi(
      [
        { id: 'a', state: 'waiting', site: 'lxbatch', extra: '7_1' },
        { id: 'b', state: 'running', site: 'lxbatch' },
        { id: 'c', state: 'waiting', site: 'lxbatch', extra: '8_1', drain: true },
        { id: 'd', state: 'waiting', site: 'other', extra: '9_9' },
        { id: 'e', state: 'stopped', site: 'lxbatch', extra: '6_1' },
      ],
      { lxbatch: { name: 'lxbatch', pilots: 7 } },
    );
    // 7_1 runs pilot a; 7_2 waits; 8_1 runs the draining pilot c; 9_1 runs but has not registered yet.
    fakes.program(
      'squeue',
      `printf '%s\\0' "$@" > "${fakes.dir}/squeue.args"\nprintf '7_1 R\\n7_2 PD\\n8_1 R\\n9_1 R\\n'`,
    );
  });
  after(() => api.close());

  const topup = (target: string, more: string[] = []) =>
    submit([
      '--target',
      target,
      '--site',
      'lxbatch',
      '--server',
      api.url,
      '--api-token-file',
      viewerTokenFile,
      '--json',
      ...more,
    ]);

  test('submits the target minus live pilots, pending tasks and tasks still starting', async () => {
    const r = await topup('6');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.json.topup, {
      site: 'lxbatch',
      target: 6,
      live: 2,
      draining: 1,
      pending: 1,
      starting: 1,
      submit: 2,
    });
    assert.equal(r.json.submitted, 2);
    assert.ok(fakes.args('sbatch').includes('--array=1-2'));
    const q = fakes.args('squeue');
    assert.deepEqual(q.slice(0, 3), ['-h', '-r', '-u']);
    assert.ok(q.includes('p3s-pilot-lxbatch'), 'counts only this job name');
    const asked = api.requests.map((x) => x.path).filter((p) => p.startsWith('/pilots'));
    for (const state of ['active', 'waiting', 'dispatched', 'running'])
      assert.ok(
        asked.some((p) => p.includes(`state=${state}`) && p.includes('site=lxbatch')),
        `asked for ${state}`,
      );
  });

  test('submits nothing when the site has enough', async () => {
    fakes.recorder('sbatch', 'exit 99');
    try {
      const r = await topup('4');
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.json.submitted, 0);
      assert.equal(r.json.jobId, null);
      assert.equal(r.json.topup.submit, 0);
    } finally {
      fakes.recorder('sbatch', 'echo 4242');
    }
  });

  test('--target site takes the target from the site settings', async () => {
    const r = await topup('site', ['--dry-run']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.topup.target, 7);
    assert.equal(r.json.count, 3);
  });

  test('an API that refuses the token stops the top-up before anything is submitted', async () => {
    const bad = fakes.tokenFile('wrong', 'wrong.token');
    const r = await submit([
      '--target',
      '6',
      '--site',
      'lxbatch',
      '--server',
      api.url,
      '--api-token-file',
      bad,
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /HTTP 401/);
  });
});
