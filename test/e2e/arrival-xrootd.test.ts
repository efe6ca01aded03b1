import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type LocalXrootd, startXrootd, xrdcp } from '../../scripts/xrootd/local-server.ts';
import { CLI_BIN, type PilotProcess, startPilot } from '../helpers/pilots.ts';
import { startTestStack, type TestStack, waitFor } from '../helpers/stack.ts';
import { fileWithJobs, jobEnded, reportLatency } from './arrival-helpers.ts';

let s: TestStack;
let xrd: LocalXrootd;
let pilot: PilotProcess;

before(async () => {
  assert.ok(
    existsSync('/usr/bin/xrootd'),
    'xrootd is not installed: apt-get install -y xrootd-server xrootd-client',
  );
  assert.ok(existsSync(CLI_BIN), 'dist/p3s.mjs is missing: npm run build');
  s = await startTestStack();
  // The hook runs as the xrootd account with a submitter token, the way an operator deploys it.
  const token = (await s.call('POST', '/tokens', { body: { role: 'submitter', name: 'xrootd hook' } })).body
    .token;
  xrd = await startXrootd({
    hookCommand: `${process.execPath} ${CLI_BIN} hook xrootd --url-prefix root://127.0.0.1:{port}/ --batch-ms 10 --log {hookLog}`,
    hookEnv: { P3S_SERVER: s.url, P3S_TOKEN: token },
  });
  pilot = startPilot(s.url, s.pilotToken, ['--cycles', '0']);
});
after(async () => {
  await pilot?.stop('SIGKILL');
  await xrd?.stop();
  await s?.close();
});

describe('XRootD: a file closed in the server runs a job that reads it back', () => {
  test('xrdcp in → closew → p3s hook xrootd → rule → job with P3S_INPUT_FILE=root://… → payload xrdcp reads it', async () => {
    const rule = await s.call('POST', '/rules', {
      body: {
        name: 'xrootd-readback',
        match: { source: 'xrootd', pattern: '*.root' },
        action: [
          {
            name: 'readback',
            jobtype: 'xrdread',
            payload: 'xrdcp -s "$P3S_INPUT_FILE" -',
            timeout: '60',
            env: { P3S_EXECMODE: 'SHELL', XRD_CONNECTIONRETRY: '1' },
          },
        ],
      },
    });
    assert.equal(rule.status, 201, JSON.stringify(rule.body));
    const secret = `payload-read-me-${randomBytes(8).toString('hex')}`;
    const src = join(mkdtempSync(join(tmpdir(), 'p3s-xrd-src-')), 'file1.root');
    writeFileSync(src, `${secret}\n`);

    const t0 = Date.now();
    await xrdcp(src, `${xrd.url}/data/run1/file1.root`);
    const location = `root://127.0.0.1:${xrd.port}//data/run1/file1.root`;
    const data = await fileWithJobs(
      s,
      location,
      `the file registered by the hook (hook log: ${xrd.hookLog})`,
    ).catch((err) => {
      throw new Error(
        `${(err as Error).message}\n${existsSync(xrd.hookLog) ? readFileSync(xrd.hookLog, 'utf8') : ''}`,
      );
    });
    assert.equal(data.source, 'xrootd');
    assert.equal(data.size, secret.length + 1, 'the size from the closew event');

    const job = await jobEnded(s, data.jobIds[0]);
    assert.equal(job.state, 'finished', JSON.stringify(job));
    assert.equal(job.env.P3S_INPUT_FILE, location);
    assert.match(job.stdoutTail, new RegExp(secret), 'the payload read the file back through XRootD');
    reportLatency('xrootd (xrdcp started)', t0, job);
  });

  test('a second close of the same file (rewrite) creates no second job', async () => {
    const src = join(mkdtempSync(join(tmpdir(), 'p3s-xrd-src-')), 'again.root');
    writeFileSync(src, 'x');
    await xrdcp(src, `${xrd.url}/data/run1/again.root`);
    await xrdcp(src, `${xrd.url}/data/run1/again.root`);
    const location = `root://127.0.0.1:${xrd.port}//data/run1/again.root`;
    const d = await waitFor(
      async () => {
        const x = (await s.call('GET', `/data?location=${encodeURIComponent(location)}`)).body.data[0];
        // The second close may be counted before the first one's rules have run: wait for both.
        return x?.announced === 2 && x.state !== 'new' && x;
      },
      { what: 'two announcements and a finished registration', timeoutMs: 30_000 },
    );
    assert.equal(d.jobIds.length, 1);
  });
});
