/**
 * scripts/factories/p3s-slurm-submit against a real single-node Slurm (test/helpers/slurm.ts) and
 * the local stack: the pilots it submits register with their array task ids as `extra`, run jobs,
 * a `--target` run submits only what is missing, and drained pilots leave the Slurm queue.
 * Needs `slurm-wlm` and `munge` (installed by .ci/run) and root.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PILOT_BIN } from '../helpers/pilots.ts';
import { type Slurm, startSlurm } from '../helpers/slurm.ts';
import { startTestStack, type TestStack, waitFor } from '../helpers/stack.ts';

const SUBMIT = join(import.meta.dirname, '..', '..', 'scripts', 'factories', 'p3s-slurm-submit');

let slurm: Slurm;
let s: TestStack;
let work: string;
let pilotTokenFile: string;
let apiTokenFile: string;
const started = Date.now();

before(async () => {
  assert.ok(existsSync(PILOT_BIN), `no pilot bundle at ${PILOT_BIN}: run npm run build:pilot`);
  work = mkdtempSync(join(tmpdir(), 'p3s-slurm-factory-'));
  [slurm, s] = await Promise.all([startSlurm(), startTestStack({ P3S_HEARTBEAT_TIMEOUT: '10' })]);
  pilotTokenFile = join(work, 'pilot.token');
  apiTokenFile = join(work, 'viewer.token');
  writeFileSync(pilotTokenFile, `${s.pilotToken}\n`, { mode: 0o600 });
  const viewer = await s.call('POST', '/tokens', { body: { role: 'viewer', name: 'slurm-topup' } });
  assert.equal(viewer.status, 201, JSON.stringify(viewer.body));
  writeFileSync(apiTokenFile, `${viewer.body.token}\n`, { mode: 0o600 });
  mkdirSync(join(work, 'joblog'));
});

after(async () => {
  await slurm?.stop();
  await s?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Runs the factory as an operator would, with only Slurm's and node's whereabouts in its env. */
function factory(args: string[]): Promise<{ code: number; stdout: string; stderr: string; json: any }> {
  const common = [
    '--server',
    s.url,
    '--site',
    'slurmtest',
    '--token-file',
    pilotTokenFile,
    '--pilot',
    PILOT_BIN,
  ];
  const tail = [
    '--node',
    process.execPath,
    '--logdir',
    join(work, 'logs'),
    '--json',
    '--',
    '--joblog',
    join(work, 'joblog'),
  ];
  return new Promise((resolve) => {
    execFile(
      SUBMIT,
      [...common, ...args, ...tail],
      {
        cwd: work,
        env: { ...slurm.env, PATH: `${dirname(process.execPath)}:${slurm.env.PATH}`, HOME: work },
        timeout: 30_000,
      },
      (err, stdout, stderr) => {
        let json: unknown;
        try {
          json = JSON.parse(stdout);
        } catch {}
        resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr, json });
      },
    );
  });
}

/** Waits like waitFor, and on failure says what Slurm and the pilots' batch output said. */
async function waitWithLogs<T>(check: () => Promise<T | undefined | false>, what: string): Promise<T> {
  try {
    return await waitFor(check, { timeoutMs: 30_000, intervalMs: 100, what });
  } catch (err) {
    const dir = join(work, 'logs');
    const outputs = existsSync(dir)
      ? readdirSync(dir).map((f) => `--- ${f}\n${readFileSync(join(dir, f), 'utf8').slice(-2000)}`)
      : [];
    throw new Error(`${(err as Error).message}\n${slurm.logs()}\n${outputs.join('\n')}`);
  }
}

const livePilots = async () => {
  const r = await s.call('GET', '/pilots?site=slurmtest&limit=100');
  assert.equal(r.status, 200);
  return (r.body.pilots as any[]).filter((p) =>
    ['active', 'waiting', 'dispatched', 'running'].includes(p.state),
  );
};

describe('p3s-slurm-submit on a single-node Slurm', () => {
  let arrayJob: string;
  let pilotIds: string[];

  test('-n 2 submits one job array whose tasks register as pilots carrying their Slurm ids', async (t) => {
    const submittedAt = Date.now();
    const r = await factory(['-n', '2', '--time', '00:10:00']);
    t.diagnostic(`factory took ${Date.now() - submittedAt} ms`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.submitted, 2);
    assert.match(r.json.jobId, /^\d+$/);
    arrayJob = r.json.jobId;
    const pilots = await waitWithLogs(async () => {
      const live = await livePilots();
      return live.length === 2 && live;
    }, `two pilots of Slurm job ${arrayJob}`);
    t.diagnostic(`sbatch to both pilots registered: ${Date.now() - submittedAt} ms`);
    assert.deepEqual(pilots.map((p) => p.extra).sort(), [`${arrayJob}_1`, `${arrayJob}_2`]);
    pilotIds = pilots.map((p) => p.id);
    assert.deepEqual((await slurm.queue()).sort(), [`${arrayJob}_1`, `${arrayJob}_2`]);
  });

  test('the Slurm pilots run submitted jobs to the end', async () => {
    const r = await s.call('POST', '/jobs', {
      body: [1, 2, 3, 4].map((i) => ({
        name: `echo${i}`,
        jobtype: 'default',
        payload: `/bin/echo hi ${i}`,
        env: { P3S_EXECMODE: 'SHELL' },
      })),
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const ids: string[] = r.body.map((j: { id: string }) => j.id);
    const jobs = await waitWithLogs(async () => {
      const all = await Promise.all(ids.map((id) => s.call('GET', `/jobs/${id}`).then((x) => x.body)));
      return all.every((j) => j.endedAt) && all;
    }, 'the 4 jobs to end');
    for (const j of jobs) {
      assert.equal(j.state, 'finished', JSON.stringify(j));
      assert.ok(pilotIds.includes(j.pilotId), `job ${j.id} ran on ${j.pilotId}, not a Slurm pilot`);
      assert.equal(readFileSync(join(work, 'joblog', `${j.id}.out`), 'utf8'), `hi ${j.name.slice(4)}\n`);
    }
  });

  test('--target submits only what the site lacks, and nothing once it is there', async () => {
    const first = await factory(['--target', '3', '--api-token-file', apiTokenFile]);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.json.submitted, 1);
    assert.equal(first.json.topup.live, 2);
    assert.equal(first.json.topup.target, 3);
    const third = first.json.jobId;
    await waitWithLogs(
      async () => (await livePilots()).some((p) => p.extra === `${third}_1`),
      `the pilot of Slurm job ${third}`,
    );
    const again = await factory(['--target', '3', '--api-token-file', apiTokenFile]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.json.submitted, 0);
    assert.equal(again.json.jobId, null);
    assert.deepEqual(again.json.topup, {
      site: 'slurmtest',
      target: 3,
      live: 3,
      draining: 0,
      pending: 0,
      starting: 0,
      submit: 0,
    });
  });

  test('drained pilots stop and their Slurm tasks leave the queue', async (t) => {
    const r = await s.call('POST', '/pilots/kill', { body: { all: true, mode: 'drain' } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.pilots.length, 3);
    await waitWithLogs(async () => (await slurm.queue()).length === 0, 'the Slurm queue to empty');
    const all = (await s.call('GET', '/pilots?site=slurmtest&limit=100')).body.pilots as any[];
    assert.deepEqual(
      all.map((p) => p.state),
      ['stopped', 'stopped', 'stopped'],
    );
    t.diagnostic(`Slurm bring-up ${slurm.bringUpMs} ms; whole file ${Date.now() - started} ms`);
  });
});
