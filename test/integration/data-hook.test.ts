import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLI_BIN } from '../helpers/pilots.ts';
import { startTestStack, type TestStack, waitFor } from '../helpers/stack.ts';

let s: TestStack;
const root = join(import.meta.dirname, '..', '..');
const PREFIX = 'root://127.0.0.1:11094/';

before(async () => {
  s = await startTestStack();
  const r = await s.call('POST', '/rules', {
    body: {
      name: 'xrd',
      match: { source: 'xrootd' },
      action: [{ name: 'x', jobtype: 'xrd', payload: '/bin/true' }],
    },
  });
  assert.equal(r.status, 201);
});
after(async () => {
  await s.close();
});

interface Hook {
  child: ChildProcessWithoutNullStreams;
  log: () => string;
  write(line: string): void;
  exit: Promise<number | null>;
}

/** `p3s hook xrootd` (the single-file build), as XRootD runs it: a pipe on stdin, server and token from env. */
function startHook(server: string, extra: string[] = []): Hook {
  const child = spawn(
    process.execPath,
    [CLI_BIN, 'hook', 'xrootd', '--url-prefix', PREFIX, '--batch-ms', '20', ...extra],
    { cwd: root, env: { ...process.env, P3S_SERVER: server, P3S_TOKEN: s.adminToken } },
  );
  let err = '';
  child.stderr.on('data', (d) => {
    err += d;
  });
  child.stdout.resume();
  const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, log: () => err, write: (line) => child.stdin.write(`${line}\n`), exit };
}

/** The file once its registration has finished (rules fired). */
const registered = async (lfn: string) => {
  const d = (await s.call('GET', `/data?location=${encodeURIComponent(`${PREFIX}${lfn}`)}`)).body.data[0];
  return d?.state === 'new' ? undefined : d;
};

describe('p3s hook xrootd', () => {
  test('malformed lines are logged and skipped; the good line after them is registered', async () => {
    const h = startHook(s.url);
    h.write('this is not an event');
    h.write('closew relative/path size=1');
    h.write('closew /data/hook/bad-size.root size=lots');
    h.write('');
    h.write('closew /data/hook/good1.root size=1048576 tid=root.1:2@[::1]');
    const d = await waitFor(() => registered('/data/hook/good1.root'), {
      what: 'good1 registered',
      timeoutMs: 20_000,
    });
    assert.equal(d.size, 1048576);
    assert.equal(d.source, 'xrootd');
    assert.equal(d.location, 'root://127.0.0.1:11094//data/hook/good1.root');
    assert.equal(d.state, 'triggered');
    h.child.stdin.end();
    assert.equal(await h.exit, 0, 'exits 0 at end of input');
    assert.match(h.log(), /line skipped.*not a closew line/);
    assert.match(h.log(), /line skipped.*absolute path/);
    assert.match(h.log(), /line skipped.*size=lots/);
    assert.match(h.log(), /refused":3/);
  });

  test("XRootD's default message format works too", async () => {
    const h = startHook(s.url);
    h.write('nobody.99:12@[::ffff:127.0.0.1] closew /data/hook/default fmt.txt');
    await waitFor(() => registered('/data/hook/default fmt.txt'), { what: 'registered', timeoutMs: 20_000 });
    h.child.stdin.end();
    assert.equal(await h.exit, 0);
  });

  test('a burst of 300 closed files is batched and registered, each once', async () => {
    // A generous drain: on a loaded machine three 100-file requests can take a while after EOF.
    const h = startHook(s.url, ['--batch-max', '100', '--drain', '300']);
    const lines = Array.from({ length: 300 }, (_, i) => `closew /data/burst/f${i}.root size=${i} tid=t`);
    h.child.stdin.write(`${lines.join('\n')}\n`);
    h.child.stdin.end();
    assert.equal(await h.exit, 0, 'flushes everything before exiting on EOF');
    const batches = [...h.log().matchAll(/registered (\d+) file\(s\)/g)].map((m) => Number(m[1]));
    assert.equal(
      batches.reduce((a, b) => a + b, 0),
      300,
    );
    assert.ok(batches.length <= 10 && Math.max(...batches) <= 100, `batches: ${batches.join(',')}`);
    for (const i of [0, 150, 299]) assert.equal((await registered(`/data/burst/f${i}.root`))?.size, i);
  });

  test('while the server fails, the hook keeps reading, retries, and registers everything later', async () => {
    // A proxy that answers 503 until told otherwise, then forwards to the stack.
    let healthy = false;
    let refused = 0;
    const proxy: Server = createServer(async (req, res) => {
      if (!healthy) {
        refused++;
        res
          .writeHead(503, { 'content-type': 'application/json' })
          .end('{"code":"internal","message":"down"}');
        return;
      }
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const r = await fetch(`${s.url}${req.url}`, {
        method: req.method,
        headers: req.headers as Record<string, string>,
        body: chunks.length ? Buffer.concat(chunks) : undefined,
      });
      res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? '' }).end(await r.text());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const h = startHook(`http://127.0.0.1:${(proxy.address() as AddressInfo).port}`);
    try {
      h.write('closew /data/outage/a.root size=1');
      await waitFor(() => refused >= 2, { what: 'the hook retrying', timeoutMs: 20_000 });
      for (let i = 0; i < 50; i++) h.write(`closew /data/outage/more${i}.root size=2`);
      assert.equal(h.child.exitCode, null, 'still running');
      healthy = true;
      await waitFor(() => registered('/data/outage/more49.root'), {
        what: 'all registered',
        timeoutMs: 30_000,
      });
      assert.ok(await registered('/data/outage/a.root'));
      assert.match(h.log(), /server not accepting files; retry/);
      h.child.stdin.end();
      assert.equal(await h.exit, 0);
    } finally {
      h.child.kill();
      proxy.closeAllConnections();
      await new Promise((r) => proxy.close(r));
    }
  });

  test('a file the server rejects is skipped; the rest of its batch is registered', async () => {
    const h = startHook(s.url, ['--batch-ms', '200']);
    h.write('closew /data/rej/ok1.root size=1');
    h.write('closew /data/rej/huge.root size=99999999999999999999');
    h.write('closew /data/rej/bad\u0001name.root size=1');
    h.write('closew /data/rej/ok2.root size=1');
    h.child.stdin.end();
    assert.equal(await h.exit, 0);
    assert.ok(await registered('/data/rej/ok1.root'));
    assert.ok(await registered('/data/rej/ok2.root'));
    assert.match(h.log(), /file rejected by the server, skipped.*huge\.root.*size/);
    // A name the server could not take never reaches it: refused by the hook, escaped.
    assert.match(
      h.log(),
      /line skipped: the location contains control characters: "closew \/data\/rej\/bad\\u0001name/,
    );
  });
});
