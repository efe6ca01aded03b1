/**
 * `p3s hook xrootd` with the keyed notifymsg, fed the raw bytes XRootD writes for hostile file
 * names: only the real files are registered, under their real names; every other line is
 * skipped and logged escaped, and the key never appears in the log.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { NOTIFY_KEY } from '../../shared/core/data/xrootd.ts';
import { CLI_BIN, runCli } from '../helpers/pilots.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

let s: TestStack;
const KEY = 'hostile_test_key_0123456789';
const PREFIX = 'root://127.0.0.1:11094/';
before(async () => {
  s = await startTestStack();
});
after(async () => {
  await s?.close();
});

/** Runs the hook on `input` (bytes) to its end; resolves with exit code and log. */
function hook(input: Buffer, env: Record<string, string>): Promise<{ code: number | null; log: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [CLI_BIN, 'hook', 'xrootd', '--url-prefix', PREFIX, '--batch-ms', '20'],
      {
        env: { PATH: process.env.PATH ?? '', P3S_SERVER: s.url, P3S_TOKEN: s.adminToken, ...env },
      },
    );
    let log = '';
    child.stderr.on('data', (d) => (log += d));
    child.stdout.resume();
    child.on('exit', (code) => resolve({ code, log }));
    child.stdin.end(input);
  });
}

const line = (lfn: string | Buffer, size: number) =>
  Buffer.concat([Buffer.from(`${KEY} closew ${size} `), Buffer.from(lfn), Buffer.from(` ${KEY}\n`)]);

const under = async (dir: string) =>
  ((await s.call('GET', '/data?source=xrootd&limit=500')).body.data as { location: string; size?: number }[])
    .filter((d) => d.location.startsWith(`${PREFIX}/${dir}/`))
    .map((d) => [d.location.slice(`${PREFIX}/${dir}/`.length), d.size])
    .sort();

describe('p3s hook xrootd with a key, under hostile names', () => {
  test('only the real files register, under their real names; the rest is skipped, escaped, key-free', async () => {
    const input = Buffer.concat([
      line('/h1/run9.root x=1 size=10 tid=z', 6),
      line('/h1/a b.root', 7),
      line('/h1/cr\rname.root', 8),
      line(Buffer.from([0x2f, 0x68, 0x31, 0x2f, 0xff, 0x2e, 0x72]), 9), // /h1/\xff.r
      // A name with a newline and a forged line inside (the attacker does not know the key).
      line('/h1/junk\nguess closew 10 /h1/run9.root guess', 11),
      Buffer.from('closew /h1/legacy.root size=12 tid=t\n'), // legacy: refused once a key is set
      line('/h1/run9.root', 13),
    ]);
    const r = await hook(input, { P3S_XROOTD_KEY: KEY });
    assert.equal(r.code, 0, r.log);
    assert.deepEqual(await under('h1'), [
      ['a b.root', 7],
      ['run9.root x=1 size=10 tid=z', 6],
      ['run9.root', 13],
    ]);
    assert.match(
      r.log,
      /line skipped: the location contains control characters: "<key> closew 8 \/h1\/cr\\rname\.root <key>"/,
    );
    assert.match(r.log, /line skipped: the name is not valid UTF-8: "<key> closew 9 \/h1\/\\xff\.r <key>"/);
    assert.match(r.log, /line skipped: does not end with the key.*"<key> closew 11 \/h1\/junk"/);
    assert.match(
      r.log,
      /line skipped: does not start with the key.*"guess closew 10 \/h1\/run9\.root guess <key>"/,
    );
    assert.match(
      r.log,
      /line skipped: does not start with the key.*"closew \/h1\/legacy\.root size=12 tid=t"/,
    );
    assert.match(r.log, /"refused":5/);
    assert.doesNotMatch(r.log, new RegExp(KEY), 'the key is never logged');
  });

  test('a key XRootD could not carry stops the hook at once, naming the fix', async () => {
    const r = await hook(Buffer.from(''), { P3S_XROOTD_KEY: 'short key' });
    assert.equal(r.code, 1);
    assert.match(r.log, /notify key \(\$P3S_XROOTD_KEY\) must be 16–128 letters.*--new-key/);
  });

  test('--new-key prints a key and the notifymsg line that uses it', async () => {
    const r = await runCli(s.url, s.adminToken, ['hook', 'xrootd', '--new-key']);
    assert.equal(r.code, 0, r.stderr);
    const [key, comment, cfg] = r.stdout.trim().split('\n');
    assert.ok(NOTIFY_KEY.test(key!), key);
    assert.match(comment!, /XRootD config/);
    assert.equal(cfg, `ofs.notifymsg closew ${key} closew $FSIZE $LFN ${key}`);
  });
});
