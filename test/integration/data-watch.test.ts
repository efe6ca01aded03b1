import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, renameSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLI_BIN } from '../helpers/pilots.ts';
import { startTestStack, type TestStack, waitFor } from '../helpers/stack.ts';

let s: TestStack;
const root = join(import.meta.dirname, '..', '..');

before(async () => {
  s = await startTestStack();
  const r = await s.call('POST', '/rules', {
    body: {
      name: 'watched',
      match: { source: 'watch' },
      action: [{ name: 'w', jobtype: 'watchdqm', payload: '/bin/true' }],
    },
  });
  assert.equal(r.status, 201);
});
after(async () => {
  await s.close();
});

/** Runs `p3s watch …` (the single-file build) to completion; returns exit code, stdout lines, stderr. */
function watchOnce(args: string[]): Promise<{ code: number | null; lines: string[]; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI_BIN, 'watch', ...args], {
      cwd: root,
      env: { ...process.env, P3S_SERVER: s.url, P3S_TOKEN: s.adminToken },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.on('exit', (code) => resolve({ code, lines: out.split('\n').filter(Boolean), err }));
  });
}

const dir = () => mkdtempSync(join(tmpdir(), 'p3s-watch-'));
/** Writes a file with the given size and age (mtime seconds ago), atomically (rename into place). */
function drop(d: string, name: string, bytes: number, ageSec = 0): string {
  const tmp = join(d, `.${name}.part`);
  writeFileSync(tmp, Buffer.alloc(bytes, 120));
  const t = Date.now() / 1000 - ageSec;
  utimesSync(tmp, t, t);
  renameSync(tmp, join(d, name));
  return join(d, name);
}
/** The registered files of --json output (other lines say what is pending or refused). */
const json = (lines: string[]) =>
  lines
    .map((l) => JSON.parse(l) as { location: string; created: boolean; state: string; jobs: string[] })
    .filter((x) => x.location);

describe('p3s watch', () => {
  test('--once with the tscan filters: newer than --since, at least --min-size, --prefix, no hidden files', async () => {
    const d = dir();
    const good = drop(d, 'np04_raw_1.root', 2048);
    drop(d, 'np04_raw_small.root', 10);
    drop(d, 'other_1.root', 4096);
    drop(d, 'np04_raw_old.root', 4096, 3600);
    writeFileSync(join(d, '.np04_raw_hidden.root'), Buffer.alloc(4096));
    const r = await watchOnce([
      d,
      '--once',
      '--since',
      '10m',
      '--min-size',
      '1k',
      '--prefix',
      'np04',
      '--settle',
      '0',
      '--json',
    ]);
    assert.equal(r.code, 0, r.err);
    const out = json(r.lines);
    assert.deepEqual(
      out.map((x) => x.location),
      [good],
    );
    assert.equal(out[0]!.created, true);
    assert.equal(out[0]!.state, 'triggered');
    const data = (await s.call('GET', `/data?location=${encodeURIComponent(good)}`)).body.data[0];
    assert.equal(data.source, 'watch');
    assert.equal(data.size, 2048);
    const job = (await s.call('GET', `/jobs/${data.jobIds[0]}`)).body;
    assert.equal(job.env.P3S_INPUT_FILE, good);
  });

  test('--pattern and --max-per-scan: oldest first, the rest at the next scan', async () => {
    const d = dir();
    const names = ['e.dat', 'd.dat', 'c.dat', 'b.dat', 'a.dat'];
    for (const [i, n] of names.entries()) drop(d, n, 1, 50 - i * 10); // e is the oldest
    drop(d, 'skip.txt', 1);
    const first = json(
      (await watchOnce([d, '--once', '--settle', '0', '--pattern', '*.dat', '--max-per-scan', '2', '--json']))
        .lines,
    );
    assert.deepEqual(
      first.map((x) => x.location.slice(d.length + 1)),
      ['e.dat', 'd.dat'],
    );
    const second = json(
      (await watchOnce([d, '--once', '--settle', '0', '--pattern', '*.dat', '--max-per-scan', '2', '--json']))
        .lines,
    );
    // No state file: the first two are sent again (and are already registered), nothing new yet.
    assert.deepEqual(
      second.map((x) => [x.location.slice(d.length + 1), x.created]),
      [
        ['e.dat', false],
        ['d.dat', false],
      ],
    );
  });

  test('restarts are idempotent: with --state nothing is re-sent; without it, re-sending creates nothing', async () => {
    const d = dir();
    const state = join(dir(), 'watch-state.json');
    const f = drop(d, 'restart.root', 5);
    const a = json((await watchOnce([d, '--once', '--settle', '0', '--state', state, '--json'])).lines);
    assert.equal(a.length, 1);
    const b = await watchOnce([d, '--once', '--settle', '0', '--state', state, '--json']);
    assert.equal(b.code, 0);
    assert.deepEqual(b.lines, [], 'the state file remembers what was sent');
    const c = json((await watchOnce([d, '--once', '--settle', '0', '--json'])).lines);
    assert.equal(c[0]!.created, false);
    const data = (await s.call('GET', `/data?location=${encodeURIComponent(f)}`)).body.data[0];
    assert.equal(data.announced, 2);
    assert.equal(data.jobIds.length, 1, 'jobs once');
  });

  test('continuous mode registers a file dropped into the directory, and stops cleanly on SIGTERM', async () => {
    const d = dir();
    const child = spawn(process.execPath, [CLI_BIN, 'watch', d, '--interval', '30', '--settle', '0'], {
      cwd: root,
      env: { ...process.env, P3S_SERVER: s.url, P3S_TOKEN: s.adminToken },
    });
    let out = '';
    child.stdout.on('data', (x) => {
      out += x;
    });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      await waitFor(() => /watching .* every 30 s and on changes/.test(out), {
        what: 'watcher up',
        timeoutMs: 20_000,
      });
      const f = drop(d, 'live.root', 3);
      // inotify wakes the watcher long before the 30 s interval.
      await waitFor(() => /scan .*: 1 file\(s\): 1 new \(1 triggered\); 1 job\(s\)/.test(out), {
        what: 'the scan report',
        timeoutMs: 20_000,
      });
      const data = (await s.call('GET', `/data?location=${encodeURIComponent(f)}`)).body.data[0];
      assert.equal(data.jobIds.length, 1);
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      child.kill('SIGKILL');
    }
  });

  test('an unreachable server fails --once with a reason and exit code 3', async () => {
    const d = dir();
    drop(d, 'x.root', 1);
    const child = await new Promise<{ code: number | null; err: string }>((resolve) => {
      const c = spawn(process.execPath, [CLI_BIN, 'watch', d, '--once', '--settle', '0'], {
        cwd: root,
        env: { ...process.env, P3S_SERVER: 'http://127.0.0.1:9', P3S_TOKEN: 'x' },
      });
      let err = '';
      let out = '';
      c.stderr.on('data', (x) => {
        err += x;
      });
      c.stdout.on('data', (x) => {
        out += x;
      });
      c.on('exit', (code) => resolve({ code, err: err + out }));
    });
    assert.equal(child.code, 3);
    assert.match(child.err, /cannot reach p3s server/);
  });
});
