/**
 * The watcher as an operator runs it (defaults: 10 s settle, inotify), a real pilot, and a
 * directory holding what production throws at it: two complete files, one growing for 3 s, one
 * name with a control character and one that is not UTF-8. Exactly the good, complete files are
 * registered, and each job reads its whole file.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLI_BIN, type PilotProcess, startPilot } from '../helpers/pilots.ts';
import { startTestStack, type TestStack, waitFor } from '../helpers/stack.ts';
import { jobEnded } from './arrival-helpers.ts';

let s: TestStack;
let pilot: PilotProcess;
let watcher: ChildProcess | undefined;
let out = '';
const inbox = mkdtempSync(join(tmpdir(), 'p3s-hostile-inbox-'));

before(async () => {
  s = await startTestStack();
  pilot = startPilot(s.url, s.pilotToken, ['--cycles', '0']);
});
after(async () => {
  watcher?.kill('SIGKILL');
  await pilot?.stop('SIGKILL');
  await s?.close();
});

/** A complete file, renamed into the inbox. */
function complete(name: string | Buffer, text: string): void {
  const tmp = join(inbox, `.${Math.random()}.part`);
  writeFileSync(tmp, text);
  renameSync(
    tmp,
    typeof name === 'string' ? join(inbox, name) : Buffer.concat([Buffer.from(`${inbox}/`), name]),
  );
}

describe('a watched directory with hostile names and a growing file', () => {
  test('registers exactly the good, complete files; each job reads its whole file', async () => {
    const rule = await s.call('POST', '/rules', {
      body: {
        name: 'hostile-inbox',
        match: { source: 'watch', pattern: '*.root' },
        action: [
          {
            name: 'count',
            jobtype: 'inbox',
            payload: 'wc -c < "$P3S_INPUT_FILE"',
            env: { P3S_EXECMODE: 'SHELL' },
          },
        ],
      },
    });
    assert.equal(rule.status, 201, JSON.stringify(rule.body));
    watcher = spawn(process.execPath, [CLI_BIN, 'watch', inbox], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', P3S_SERVER: s.url, P3S_TOKEN: s.adminToken },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    watcher.stdout!.on('data', (d) => (out += d));
    watcher.stderr!.on('data', (d) => (out += d));
    await waitFor(() => out.includes('watching'), { what: 'the watcher up', timeoutMs: 20_000 });
    assert.match(out, /files are taken 10 s after their last change/);

    complete('good_1.root', 'a'.repeat(1000));
    complete('bad\u0007bell.root', 'b'.repeat(1000));
    complete(Buffer.from('bad_\xe9_latin1.root', 'latin1'), 'c'.repeat(1000));
    complete('good_2.root', 'd'.repeat(2000));
    const growing = join(inbox, 'growing.root');
    writeFileSync(growing, 'g');
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, 300)); // a writer appending every 0.3 s
      appendFileSync(growing, 'g'.repeat(100));
    }
    const writerDone = Date.now();

    const files = await waitFor(
      async () => {
        const d = (await s.call('GET', '/data?source=watch&limit=500')).body.data as {
          location: string;
          size: number;
          jobIds: string[];
          registeredAt: string;
        }[];
        const mine = d.filter((x) => x.location.startsWith(`${inbox}/`));
        return mine.length >= 3 && mine.every((x) => x.jobIds?.length) && mine;
      },
      { what: `the good files registered (watcher: ${out})`, timeoutMs: 40_000 },
    );
    const byName = new Map(files.map((f) => [f.location.slice(inbox.length + 1), f]));
    assert.deepEqual([...byName.keys()].sort(), ['good_1.root', 'good_2.root', 'growing.root']);
    assert.equal(byName.get('growing.root')!.size, 1001, 'the growing file at its final size');
    assert.ok(
      Date.parse(byName.get('growing.root')!.registeredAt) >= writerDone + 9_000,
      'taken only after it stopped changing for the settle time',
    );
    for (const [name, size] of [
      ['good_1.root', 1000],
      ['good_2.root', 2000],
      ['growing.root', 1001],
    ] as const) {
      const job = await jobEnded(s, byName.get(name)!.jobIds[0]!);
      assert.equal(job.state, 'finished', JSON.stringify(job));
      assert.equal(job.stdoutTail.trim(), String(size), `${name}: the payload read the whole file`);
    }
    // Each bad name said once, escaped, with the reason; the pending files said as such.
    assert.equal(
      (out.match(/refused "bad\\u0007bell\.root": the location contains control characters/g) ?? []).length,
      1,
      out,
    );
    assert.equal(
      (out.match(/refused "bad_\\xe9_latin1\.root": the name is not valid UTF-8/g) ?? []).length,
      1,
      out,
    );
    assert.match(out, /waiting to settle \(--settle 10 s\)/);
  });
});
