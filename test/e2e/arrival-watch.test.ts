import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLI_BIN, type PilotProcess, startPilot } from '../helpers/pilots.ts';
import { startTestStack, type TestStack, waitFor } from '../helpers/stack.ts';
import { fileWithJobs, jobEnded, reportLatency } from './arrival-helpers.ts';

let s: TestStack;
let pilot: PilotProcess;
let watcher: ChildProcess | undefined;
let watcherOut = '';
const inbox = mkdtempSync(join(tmpdir(), 'p3s-inbox-'));

before(async () => {
  s = await startTestStack();
  pilot = startPilot(s.url, s.pilotToken, ['--cycles', '0']);
});
after(async () => {
  watcher?.kill('SIGKILL');
  await pilot?.stop('SIGKILL');
  await s?.close();
});

describe('directory watcher: a file dropped into a watched directory runs a job that reads it', () => {
  test('p3s watch DIR → rule → job with P3S_INPUT_FILE=<path> → payload cats the file → finished', async () => {
    const rule = await s.call('POST', '/rules', {
      body: {
        name: 'inbox',
        match: { source: 'watch', pattern: 'np04_raw_*.root', minSize: '1k' },
        action: [
          { name: 'cat', jobtype: 'inbox', payload: 'cat "$P3S_INPUT_FILE"', env: { P3S_EXECMODE: 'SHELL' } },
        ],
      },
    });
    assert.equal(rule.status, 201, JSON.stringify(rule.body));
    watcher = spawn(
      process.execPath,
      // The file is renamed into place (complete at once): no settle time (--settle 0).
      [
        CLI_BIN,
        'watch',
        inbox,
        '--since',
        '10m',
        '--min-size',
        '1k',
        '--prefix',
        'np04',
        '--interval',
        '5',
        '--settle',
        '0',
      ],
      {
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', P3S_SERVER: s.url, P3S_TOKEN: s.adminToken },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    watcher.stdout!.on('data', (d) => (watcherOut += d));
    watcher.stderr!.on('data', (d) => (watcherOut += d));
    await waitFor(() => watcherOut.includes('watching'), { what: 'the watcher up', timeoutMs: 20_000 });

    const secret = `np04-${randomBytes(8).toString('hex')}`;
    const tmp = join(inbox, '.np04_raw_run5.root.part');
    writeFileSync(tmp, `${secret}\n${'x'.repeat(2048)}\n`);
    const file = join(inbox, 'np04_raw_run5.root');
    const t0 = Date.now();
    renameSync(tmp, file);

    const data = await fileWithJobs(s, file, `the file registered (watcher: ${watcherOut})`);
    assert.equal(data.source, 'watch');
    const job = await jobEnded(s, data.jobIds[0]);
    assert.equal(job.state, 'finished', JSON.stringify(job));
    assert.equal(job.env.P3S_INPUT_FILE, file);
    assert.match(job.stdoutTail, new RegExp(secret));
    reportLatency('directory (rename into DIR)', t0, job);
  });
});
