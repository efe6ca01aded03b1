/**
 * Job files validated like the original's: `payload`, `jobtype` and `name` are required (a 400
 * naming the field, nothing stored); real time limits (58 days) pass; `p3s job submit` takes
 * `$P3S_INPUT_FILE` from the submitting shell as the original job.py did. Workflow jobs, whose
 * names come from their vertices, are not affected.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLI_BIN, runCli } from '../helpers/pilots.ts';
import { tableSnapshot } from '../helpers/routes.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

let s: TestStack;
before(async () => {
  s = await startTestStack();
});
after(async () => {
  await s?.close();
});

const fixture = (name: string) => join(import.meta.dirname, '..', 'fixtures', name);
const good = { name: 'hm', jobtype: 'monitor', payload: '/opt/dqm/hm.sh' };

/** POST /jobs must answer 400 with a message starting with `message`, and store nothing. */
async function refused(body: unknown, message: RegExp) {
  const before = await tableSnapshot(s);
  const r = await s.call('POST', '/jobs', { body });
  assert.equal(r.status, 400, JSON.stringify(r.body));
  assert.match(r.body.message, message);
  assert.deepEqual(await tableSnapshot(s), before, 'nothing stored');
  return r;
}

describe('job files are validated like the original', () => {
  test('[{}] is a 400 naming payload, and the issues name jobtype and name too', async () => {
    const r = await refused([{}], /^body\[0\]\.payload: is required/);
    assert.deepEqual(
      r.body.issues.map((i: { path: string }) => i.path),
      ['body[0].payload', 'body[0].jobtype', 'body[0].name'],
    );
  });

  for (const field of ['payload', 'jobtype', 'name'] as const) {
    test(`a job without ${field} is a 400 naming ${field}, and no job of the file is stored`, async () => {
      const { [field]: _, ...partial } = good;
      await refused([good, partial], new RegExp(`^body\\[1\\]\\.${field}: is required`));
      await refused({ jobs: [partial] }, new RegExp(`^body\\.jobs\\[0\\]\\.${field}: is required`));
    });
  }

  test('a blank payload or a null field is refused as well', async () => {
    await refused([{ ...good, payload: '   ' }], /^body\[0\]\.payload: must not be empty/);
    await refused([{ ...good, jobtype: null }], /^body\[0\]\.jobtype: is required/);
  });

  test('a production file with "timeout": "5000000" (58 days) is accepted as it is', async () => {
    const r = await runCli(s.url, s.adminToken, [
      'job',
      'submit',
      fixture('jobs/purity-data-reco.json'),
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const [job] = JSON.parse(r.stdout);
    assert.equal(job.timelimit, 5_000_000);
    assert.equal((await s.call('GET', `/jobs/${job.id}`)).body.timelimit, 5_000_000);
  });

  test('a time limit over a year is a 400 naming timeout', async () => {
    await refused([{ ...good, timeout: 366 * 86400 + 1 }], /^body\[0\]\.timeout:/);
  });
});

describe('p3s job submit and $P3S_INPUT_FILE', () => {
  test('P3S_INPUT_FILE of the submitting shell becomes the jobs’ input file, and is said on stderr', async () => {
    const r = await runCli(
      s.url,
      s.adminToken,
      ['job', 'submit', fixture('jobs/original-job.json'), '--json'],
      {
        P3S_INPUT_FILE: '/data/np04_raw_run7.root',
      },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /P3S_INPUT_FILE from the environment: \/data\/np04_raw_run7\.root/);
    const [job] = JSON.parse(r.stdout);
    const stored = (await s.call('GET', `/jobs/${job.id}`)).body;
    assert.equal(stored.env.P3S_INPUT_FILE, '/data/np04_raw_run7.root');
    assert.equal(stored.inputFile, '/data/np04_raw_run7.root');
  });

  test('-f wins over $P3S_INPUT_FILE, as in the original', async () => {
    const r = await runCli(
      s.url,
      s.adminToken,
      ['job', 'submit', fixture('jobs/original-job.json'), '-f', '/data/a.root,/data/b.root', '--json'],
      { P3S_INPUT_FILE: '/data/env.root' },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /from the environment/);
    const files = (JSON.parse(r.stdout) as { id: string }[]).map((j) => j.id);
    const inputs = await Promise.all(
      files.map(async (id) => (await s.call('GET', `/jobs/${id}`)).body.env.P3S_INPUT_FILE),
    );
    assert.deepEqual(inputs.sort(), ['/data/a.root', '/data/b.root']);
  });

  test('without either, no input file is set', async () => {
    const r = await runCli(s.url, s.adminToken, [
      'job',
      'submit',
      fixture('jobs/original-job.json'),
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const [job] = JSON.parse(r.stdout);
    assert.equal((await s.call('GET', `/jobs/${job.id}`)).body.env.P3S_INPUT_FILE, undefined);
  });

  test('a file missing payload is refused by the CLI with the field named, exit 1', async () => {
    const r = await new Promise<{ code: number; stderr: string }>((resolve) => {
      const c = spawn(process.execPath, [CLI_BIN, 'job', 'submit', '-'], {
        env: { PATH: process.env.PATH ?? '', P3S_SERVER: s.url, P3S_TOKEN: s.adminToken },
      });
      let stderr = '';
      c.stderr.on('data', (d) => (stderr += d));
      c.on('exit', (code) => resolve({ code: code ?? 1, stderr }));
      c.stdin.end(JSON.stringify([{ name: 'x', jobtype: 'y' }]));
    });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /payload: is required/);
  });
});

describe('jobs made from templates still get what they should', () => {
  test('a DAG vertex names its job, and a vertex time limit of 58 days is accepted', async () => {
    const dag = {
      name: 'longrun',
      vertices: [
        { name: 'entry', jobtype: 'noop' },
        { name: 'purity', jobtype: 'purity', payload: '/opt/purity.sh', timelimit: 5_000_000 },
      ],
      edges: [{ source: 'entry', target: 'purity', datatype: 'TXT', datatag: 'INTXT' }],
    };
    assert.equal((await s.call('POST', '/datatypes', { body: { name: 'TXT', ext: '.txt' } })).status, 200);
    const d = await s.call('POST', '/dags', { body: { dag } });
    assert.equal(d.status, 201, JSON.stringify(d.body));
    const wf = await s.call('POST', '/workflows', { body: { dag: 'longrun' } });
    assert.equal(wf.status, 201, JSON.stringify(wf.body));
    const purity = wf.body.jobs.find((j: { vertex: string }) => j.vertex === 'purity');
    const job = (await s.call('GET', `/jobs/${purity.id}`)).body;
    assert.equal(job.name, 'purity');
    assert.equal(job.timelimit, 5_000_000);
  });

  test('a rule whose job template lacks a payload is refused, naming it', async () => {
    const r = await s.call('POST', '/rules', {
      body: { name: 'nopayload', action: [{ name: 'x', jobtype: 'y' }] },
    });
    assert.equal(r.status, 400);
    assert.match(r.body.message, /^body\.action\[0\]\.payload: is required/);
  });
});
