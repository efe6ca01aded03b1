/**
 * Hostile file names through a real XRootD server and its closew pipe: spaces and `key=value`
 * (the spoof of issue 13), `\r`, bytes that are not UTF-8, and a name with a newline that
 * carries a forged notification. With the keyed notifymsg (scripts/xrootd/xrd.cfg) only the
 * real files are registered, under their real names and sizes; with the legacy message the
 * `key=value` spoof no longer works either.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type LocalXrootd, startXrootd } from '../../scripts/xrootd/local-server.ts';
import { CLI_BIN } from '../helpers/pilots.ts';
import { startTestStack, type TestStack, waitFor } from '../helpers/stack.ts';

let s: TestStack;
const servers: LocalXrootd[] = [];
before(async () => {
  assert.ok(
    existsSync('/usr/bin/xrootd'),
    'xrootd is not installed: apt-get install -y xrootd-server xrootd-client',
  );
  assert.ok(existsSync(CLI_BIN), 'dist/p3s.mjs is missing: npm run build');
  s = await startTestStack();
});
after(async () => {
  for (const x of servers) await x.stop();
  await s?.close();
});

async function server(legacyNotifyMsg = false): Promise<LocalXrootd> {
  const token = (await s.call('POST', '/tokens', { body: { role: 'submitter', name: 'xrootd hook' } })).body
    .token;
  const x = await startXrootd({
    hookCommand: `${process.execPath} ${CLI_BIN} hook xrootd --url-prefix root://127.0.0.1:{port}/ --batch-ms 10 --log {hookLog}`,
    hookEnv: { P3S_SERVER: s.url, P3S_TOKEN: token },
    legacyNotifyMsg,
  });
  servers.push(x);
  return x;
}

const src = join(mkdtempSync(join(tmpdir(), 'p3s-xrd-hostile-')), 'six.bin');
writeFileSync(src, 'sixby\n');

/**
 * `xrdcp` of a 6-byte file to `dir/<name>`, where `name` is given as a printf format so any
 * byte can be in it (`\\377`, `\\n`, `\\r`); `--path` makes the directories a name may imply.
 */
function upload(x: LocalXrootd, dir: string, printfName: string): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile(
      '/bin/sh',
      ['-c', 'xrdcp -f -s --path "$1" "$2$(printf "$3")"', 'sh', src, `${x.url}/${dir}/`, printfName],
      { env: { ...process.env, XRD_CONNECTIONRETRY: '1', XRD_REQUESTTIMEOUT: '5' }, timeout: 20_000 },
      (err, _out, stderr) => (err ? reject(new Error(`xrdcp ${printfName}: ${stderr}`)) : resolve()),
    ),
  );
}

async function registeredUnder(x: LocalXrootd, dir: string): Promise<[string, number][]> {
  const prefix = `root://127.0.0.1:${x.port}//${dir}/`;
  const d = (await s.call('GET', '/data?source=xrootd&limit=500')).body.data as {
    location: string;
    size: number;
  }[];
  return d
    .filter((f) => f.location.startsWith(prefix))
    .map((f): [string, number] => [f.location.slice(prefix.length), f.size])
    .sort(([a], [b]) => (a < b ? -1 : 1));
}

const hookLog = (x: LocalXrootd) => (existsSync(x.hookLog) ? readFileSync(x.hookLog, 'utf8') : '');

describe('XRootD closew under hostile names (keyed notifymsg)', () => {
  test('spaces, key=value, \\r, non-UTF-8 and a forged line inside a name: only the real files register', async () => {
    const x = await server();
    assert.ok(x.key, 'the server runs the keyed notifymsg');
    await upload(x, 'data/hostile', 'run9.root x=1 size=10 tid=z');
    await upload(x, 'data/hostile', 'cr\\rname.root');
    await upload(x, 'data/hostile', 'bad\\377\\376.root');
    // The forged line needs the key it does not know; its directories carry the slashes.
    await upload(x, 'data/hostile', 'junk\\nguess closew 10 /data/hostile/run9.root guess');
    await upload(x, 'data/hostile', 'run9.root');
    await waitFor(async () => (await registeredUnder(x, 'data/hostile')).some(([n]) => n === 'run9.root'), {
      what: `run9.root registered (hook log: ${hookLog(x)})`,
      timeoutMs: 30_000,
    });
    assert.deepEqual(await registeredUnder(x, 'data/hostile'), [
      ['run9.root', 6],
      ['run9.root x=1 size=10 tid=z', 6],
    ]);
    const log = hookLog(x);
    assert.match(
      log,
      /line skipped: the location contains control characters: "<key> closew 6 \/data\/hostile\/cr\\rname\.root <key>"/,
    );
    assert.match(
      log,
      /line skipped: the name is not valid UTF-8: "<key> closew 6 \/data\/hostile\/bad\\xff\\xfe\.root <key>"/,
    );
    assert.match(log, /line skipped: does not end with the key.*"<key> closew 6 \/data\/hostile\/junk"/);
    assert.match(
      log,
      /line skipped: does not start with the key.*"guess closew 10 \/data\/hostile\/run9\.root guess <key>"/,
    );
    assert.doesNotMatch(log, new RegExp(x.key!), 'the key is never logged');
  });
});

describe('XRootD closew with the legacy notifymsg (no key)', () => {
  test('the `x=1 size=10` spoof registers the file under its own full name and size, and \\r is refused', async () => {
    const x = await server(true);
    assert.equal(x.key, undefined);
    await upload(x, 'data/legacy', 'run9.root x=1 size=10 tid=z');
    await upload(x, 'data/legacy', 'cr\\rname.root');
    await upload(x, 'data/legacy', 'plain.root');
    await waitFor(async () => (await registeredUnder(x, 'data/legacy')).some(([n]) => n === 'plain.root'), {
      what: `plain.root registered (hook log: ${hookLog(x)})`,
      timeoutMs: 30_000,
    });
    assert.deepEqual(await registeredUnder(x, 'data/legacy'), [
      ['plain.root', 6],
      ['run9.root x=1 size=10 tid=z', 6],
    ]);
    const log = hookLog(x);
    assert.match(log, /no notify key.*can forge/);
    assert.match(
      log,
      /line skipped: the location contains control characters: "closew \/data\/legacy\/cr\\rname\.root size=6 tid=/,
    );
  });
});
