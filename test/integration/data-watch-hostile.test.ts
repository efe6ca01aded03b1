/**
 * `p3s watch` under hostile input: names it cannot register (control characters, bytes that are
 * not UTF-8) and files still being written. Bad files are skipped and reported once, escaped;
 * every good file is registered; nothing is taken before it has settled.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, renameSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLI_BIN } from '../helpers/pilots.ts';
import { startTestStack, type TestStack, waitFor } from '../helpers/stack.ts';

let s: TestStack;
const children: ChildProcess[] = [];
before(async () => {
  s = await startTestStack();
});
after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await s?.close();
});

function watch(args: string[]): { child: ChildProcess; out: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [CLI_BIN, 'watch', ...args], {
    env: { PATH: process.env.PATH ?? '', P3S_SERVER: s.url, P3S_TOKEN: s.adminToken },
  });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return { child, out: () => out, exited: new Promise((r) => child.on('exit', (code) => r(code))) };
}

async function once(args: string[]) {
  const w = watch([...args, '--once']);
  const code = await w.exited;
  return { code, out: w.out() };
}

const dir = () => mkdtempSync(join(tmpdir(), 'p3s-watch-hostile-'));
/** A complete file, written elsewhere and renamed in, with an mtime `ageSec` ago. */
function drop(d: string, name: string | Buffer, bytes = 100, ageSec = 60): string {
  const tmp = join(d, `.drop-${Math.random()}`);
  writeFileSync(tmp, Buffer.alloc(bytes, 120));
  const t = Date.now() / 1000 - ageSec;
  utimesSync(tmp, t, t);
  if (typeof name !== 'string') {
    renameSync(tmp, Buffer.concat([Buffer.from(`${d}/`), name]));
    return '';
  }
  renameSync(tmp, join(d, name));
  return join(d, name);
}

const registered = async (path: string) =>
  (await s.call('GET', `/data?location=${encodeURIComponent(path)}`)).body.data[0];
const watchedUnder = async (d: string) =>
  ((await s.call('GET', '/data?source=watch&limit=500')).body.data as { location: string; size: number }[])
    .filter((x) => x.location.startsWith(`${d}/`))
    .map((x) => [x.location.slice(d.length + 1), x.size])
    .sort();

describe('p3s watch skips and reports, never blocks', () => {
  test('--once: a control character in one name does not stop two good files; exit 1, the name escaped', async () => {
    const d = dir();
    drop(d, 'good_1.root');
    drop(d, 'bad\u0001name.root');
    drop(d, 'good_2.root');
    const r = await once([d, '--settle', '0']);
    assert.equal(r.code, 1, r.out);
    assert.deepEqual(await watchedUnder(d), [
      ['good_1.root', 100],
      ['good_2.root', 100],
    ]);
    const refusals = r.out.split('\n').filter((l) => l.includes(' refused "'));
    assert.equal(refusals.length, 1, r.out);
    assert.match(refusals[0]!, /refused "bad\\u0001name\.root": the location contains control characters/);
    assert.match(r.out, /scan .*: 2 file\(s\): 2 new.*; 1 file refused/);
    assert.match(r.out, /p3s: some files were refused/);
  });

  test('a name that is not UTF-8 is refused as such, its bytes shown as \\xNN; --json says so too', async () => {
    const d = dir();
    drop(d, Buffer.from([0x72, 0x75, 0x6e, 0xff, 0xfe, 0x2e, 0x72, 0x6f, 0x6f, 0x74])); // run\xff\xfe.root
    drop(d, 'fine.root');
    const r = await once([d, '--settle', '0', '--json']);
    assert.equal(r.code, 1, r.out);
    const lines = r.out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l));
    const refused = lines.filter((l) => l.refused);
    assert.deepEqual(
      refused.map((l) => [l.refused, l.reason]),
      [['"run\\xff\\xfe.root"', 'the name is not valid UTF-8']],
    );
    assert.deepEqual(await watchedUnder(d), [['fine.root', 100]]);
  });

  test('a file the server refuses is skipped, the rest of its batch registered', async () => {
    const d = dir();
    drop(d, 'a.root');
    drop(d, 'b.root');
    // A datatype that does not exist as a name is refused by the server for every file: each
    // is then tried alone, refused alone, and reported with the server's reason.
    const r = await once([d, '--settle', '0', '--datatype', 'not a name']);
    assert.equal(r.code, 1, r.out);
    assert.equal(
      (r.out.match(/refused "[ab]\.root": refused by the server: body\.files\[0\]\.datatype/g) ?? []).length,
      2,
      r.out,
    );
  });

  test('continuous mode reports a refused file once, not at every scan, and goes on registering', async () => {
    const d = dir();
    drop(d, 'bad\rname.root');
    drop(d, 'first.root');
    const w = watch([d, '--settle', '0', '--interval', '0.1']);
    await waitFor(async () => registered(join(d, 'first.root')), {
      what: 'the first file',
      timeoutMs: 20_000,
    });
    // Ten scans later (at 0.1 s) a new file still gets in, and the refusal was said once.
    await waitFor(() => w.out().includes('watching'), { what: 'watcher up' });
    const late = drop(d, 'late.root');
    await waitFor(async () => registered(late), { what: 'a file dropped later', timeoutMs: 20_000 });
    assert.equal((w.out().match(/refused "bad\\rname\.root"/g) ?? []).length, 1, w.out());
    w.child.kill('SIGTERM');
    assert.equal(await w.exited, 0);
  });
});

describe('p3s watch never takes a half-written file', () => {
  test('--once with the default settle: complete files are taken after the pause, a growing one is left and said to be settling', async () => {
    const d = dir();
    drop(d, 'done_1.root');
    drop(d, 'done_2.root');
    const growing = join(d, 'growing.root');
    writeFileSync(growing, 'part 0');
    let n = 0;
    const writer = setInterval(() => appendFileSync(growing, ` part ${++n}`), 300);
    try {
      const t0 = Date.now();
      const r = await once([d]);
      const took = Date.now() - t0;
      assert.equal(r.code, 0, r.out);
      assert.ok(took >= 9_500, `--once waited for the files to settle (${took} ms)`);
      assert.match(r.out, /scan .*: 3 files waiting to settle \(--settle 10 s\)/);
      assert.match(r.out, /waiting 10 s for 3 files to settle/);
      assert.match(r.out, /scan .*: 2 file\(s\): 2 new.*; 1 file waiting to settle/);
      assert.doesNotMatch(r.out, /no new files/);
      assert.deepEqual(await watchedUnder(d), [
        ['done_1.root', 100],
        ['done_2.root', 100],
      ]);
    } finally {
      clearInterval(writer);
    }
  });

  test('continuous mode takes a growing file once it has stopped changing, at its full size', async () => {
    const d = dir();
    const growing = join(d, 'slow.root');
    writeFileSync(growing, 'x');
    const w = watch([d, '--settle', '2', '--interval', '0.2']);
    await waitFor(() => /waiting to settle/.test(w.out()), {
      what: 'the file seen as settling',
      timeoutMs: 20_000,
    });
    // Appends every 0.3 s for 3 s: each keeps the file settling (well under the 2 s settle).
    for (let i = 0; i < 10; i++) {
      appendFileSync(growing, 'y'.repeat(100));
      assert.equal(await registered(growing), undefined, `not taken while growing (append ${i})`);
      await new Promise((r) => setTimeout(r, 300)); // the writer's pace, not a synchronisation
    }
    const data = await waitFor(async () => registered(growing), {
      what: 'the settled file',
      timeoutMs: 20_000,
    });
    assert.equal(data.size, 1001, 'registered at its final size');
    w.child.kill('SIGTERM');
    assert.equal(await w.exited, 0);
  });
});
