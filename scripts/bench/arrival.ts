/**
 * Data-arrival latency (docs/design.md §10: file closed in XRootD / put in S3 → payload started,
 * p50 ≤ 1 s): the local stack as its own process, real pilot processes with no-op payloads, and
 * one rule per arrival path. Files arrive one at a time, `--interval` apart, through
 *   xrootd: `xrdcp` into a real XRootD server whose `ofs.notify closew` runs `p3s hook xrootd`
 *           (arrival = xrdcp done: the file is closed);
 *   watch:  a rename into a directory watched by `p3s watch` (inotify) (arrival = the rename);
 *   s3:     a PutObject into the local S3 (s3rver) (arrival = the PUT answered).
 * Latency = the payload's own start timestamp − arrival (same clock).
 *
 * Usage: node --import tsx scripts/bench/arrival.ts [--files 30] [--interval 300]
 *          [--pilots 4] [--warmup 5] [--paths xrootd,watch,s3] [--json]
 * `benchArrival()` is what the main bench calls.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { type LocalXrootd, startXrootd, xrdcp } from '../xrootd/local-server.ts';
import { type StackProcess, startStackProcess } from './stack-process.ts';

const root = join(import.meta.dirname, '..', '..');
const CLI = join(root, 'dist', 'p3s.mjs');
const PILOT = join(root, 'dist', 'p3s-pilot.mjs');

export type ArrivalPath = 'xrootd' | 'watch' | 's3';

export interface ArrivalOptions {
  files?: number;
  intervalMs?: number;
  pilots?: number;
  /** Files sent through each path before measuring (default 5). */
  warmup?: number;
  paths?: ArrivalPath[];
  progress?: (line: string) => void;
}

export interface ArrivalResult {
  path: ArrivalPath;
  files: number;
  /** data arrival → payload started, ms */
  latencyMs: { p50: number; p95: number; max: number };
  /** data arrival → file registered (rules fired), ms */
  registerMs: { p50: number; p95: number };
}

interface Job {
  state: string;
  definedAt: string;
  startedAt?: string;
  payloadStartedAt?: string;
}
interface Data {
  registeredAt: string;
  jobIds?: string[];
}

const pct = (xs: number[], p: number) => {
  if (!xs.length) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function call<T>(st: StackProcess, method: string, path: string, body?: unknown): Promise<T> {
  const r = await fetch(`${st.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${st.adminToken}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
  return (await r.json()) as T;
}

/** Waits until the file's job has started; returns the payload start and registration times. */
async function started(
  st: StackProcess,
  location: string,
): Promise<{ payloadMs: number; registeredMs: number }> {
  const until = Date.now() + 60_000;
  for (;;) {
    const d = (await call<{ data: Data[] }>(st, 'GET', `/data?location=${encodeURIComponent(location)}`))
      .data[0];
    const id = d?.jobIds?.[0];
    if (id) {
      const j = await call<Job>(st, 'GET', `/jobs/${id}`);
      const at = j.payloadStartedAt ?? j.startedAt;
      if (at) return { payloadMs: Date.parse(at), registeredMs: Date.parse(d.registeredAt) };
    }
    if (Date.now() > until) throw new Error(`${location}: no job started within 60 s`);
    await sleep(50);
  }
}

export async function benchArrival(o: ArrivalOptions = {}): Promise<ArrivalResult[]> {
  const files = o.files ?? 30;
  const intervalMs = o.intervalMs ?? 300;
  const pilots = o.pilots ?? 4;
  const warmup = o.warmup ?? 5;
  const paths = o.paths ?? ['xrootd', 'watch', 's3'];
  const progress = o.progress ?? (() => {});
  for (const f of [CLI, PILOT]) if (!existsSync(f)) throw new Error(`${f} is missing: npm run build`);
  if (paths.includes('xrootd') && !existsSync('/usr/bin/xrootd'))
    throw new Error('xrootd is not installed: apt-get install -y xrootd-server xrootd-client');

  progress('arrival: starting the local stack…');
  // Both ports are bound by the stack (0: any free one) and read back, never guessed beforehand.
  const st = await startStackProcess({ env: { P3S_S3_PORT: '0' } });
  const children: ChildProcess[] = [];
  let xrd: LocalXrootd | undefined;
  try {
    for (const p of paths)
      await call(st, 'POST', '/rules', {
        name: `bench-${p}`,
        match: { source: p },
        action: [{ name: `arrival-${p}`, jobtype: 'arrival', payload: '/bin/true' }],
      });
    const joblog = mkdtempSync(join(tmpdir(), 'p3s-bench-arrival-jobs-'));
    children.push(
      spawn(
        process.execPath,
        [
          PILOT,
          '--server',
          st.url,
          '--count',
          String(pilots),
          '--in-process',
          '--joblog',
          joblog,
          '--log-level',
          'warn',
        ],
        {
          env: { PATH: process.env.PATH, HOME: process.env.HOME, P3S_TOKEN: st.pilotToken },
          stdio: 'ignore',
        },
      ),
    );
    for (const until = Date.now() + 60_000; ; ) {
      const r = await call<{ pilots: unknown[] }>(st, 'GET', '/pilots?state=waiting&limit=1000');
      if (r.pilots.length >= pilots) break;
      if (Date.now() > until) throw new Error('pilots did not become idle');
      await sleep(200);
    }
    const results: ArrivalResult[] = [];
    for (const path of paths) {
      const arrivals: { location: string; at: number }[] = [];
      const src = mkdtempSync(join(tmpdir(), 'p3s-bench-arrival-src-'));
      let announce: (i: number) => Promise<{ location: string; at: number }>;
      if (path === 'xrootd') {
        const token = (
          await call<{ token: string }>(st, 'POST', '/tokens', { role: 'submitter', name: 'bench hook' })
        ).token;
        xrd = await startXrootd({
          hookCommand: `${process.execPath} ${CLI} hook xrootd --url-prefix root://127.0.0.1:{port}/ --batch-ms 5 --log {hookLog}`,
          hookEnv: { P3S_SERVER: st.url, P3S_TOKEN: token },
        });
        const x = xrd;
        announce = async (i) => {
          const f = join(src, `f${i}.root`);
          writeFileSync(f, `file ${i}\n`);
          await xrdcp(f, `${x.url}/data/bench/f${i}.root`);
          return { location: `root://127.0.0.1:${x.port}//data/bench/f${i}.root`, at: Date.now() };
        };
      } else if (path === 'watch') {
        const inbox = mkdtempSync(join(tmpdir(), 'p3s-bench-inbox-'));
        // Files are renamed into the inbox, complete: no settle time needed (--settle 0).
        const w = spawn(process.execPath, [CLI, 'watch', inbox, '--interval', '5', '--settle', '0'], {
          env: { PATH: process.env.PATH, P3S_SERVER: st.url, P3S_TOKEN: st.adminToken },
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        children.push(w);
        await new Promise<void>((resolve) => {
          let out = '';
          w.stdout!.on('data', (d) => {
            out += d;
            if (out.includes('watching')) resolve();
          });
        });
        announce = async (i) => {
          const tmp = join(inbox, `.f${i}.part`);
          writeFileSync(tmp, `file ${i}\n`);
          renameSync(tmp, join(inbox, `f${i}.dat`));
          return { location: join(inbox, `f${i}.dat`), at: Date.now() };
        };
      } else {
        announce = async (i) => {
          const r = await fetch(`${st.s3Endpoint}/p3s-local-data/incoming/bench/f${i}.dat`, {
            method: 'PUT',
            body: `file ${i}\n`,
          });
          if (!r.ok) throw new Error(`PUT: ${r.status}`);
          return { location: 's3://p3s-local-data/incoming/bench/f' + i + '.dat', at: Date.now() };
        };
      }
      // Warm-up files (not measured): the first requests of a fresh stack, hook or watcher
      // pay for JIT compilation and cold caches, which a running system does not.
      for (let i = 0; i < warmup; i++) {
        const a = await announce(files + i);
        await started(st, a.location);
        progress(`arrival ${path}: warm-up ${i + 1}/${warmup}`);
      }
      for (let i = 0; i < files; i++) {
        arrivals.push(await announce(i));
        progress(`arrival ${path}: ${i + 1}/${files}`);
        await sleep(intervalMs);
      }
      const lat: number[] = [];
      const reg: number[] = [];
      for (const a of arrivals) {
        const t = await started(st, a.location);
        lat.push(t.payloadMs - a.at);
        reg.push(t.registeredMs - a.at);
      }
      results.push({
        path,
        files,
        latencyMs: { p50: pct(lat, 50), p95: pct(lat, 95), max: Math.max(...lat) },
        registerMs: { p50: pct(reg, 50), p95: pct(reg, 95) },
      });
    }
    return results;
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await xrd?.stop();
    await st.stop();
  }
}

/** One line per path, for the bench's report. */
export function formatArrival(r: ArrivalResult): string {
  return `arrival ${r.path}: ${r.files} files — arrival → payload start p50 ${r.latencyMs.p50} ms, p95 ${r.latencyMs.p95} ms (max ${r.latencyMs.max}); arrival → registered p50 ${r.registerMs.p50} ms`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      files: { type: 'string', default: '30' },
      interval: { type: 'string', default: '300' },
      pilots: { type: 'string', default: '4' },
      warmup: { type: 'string', default: '5' },
      paths: { type: 'string', default: 'xrootd,watch,s3' },
      json: { type: 'boolean', default: false },
    },
  });
  const results = await benchArrival({
    files: Number(values.files),
    intervalMs: Number(values.interval),
    pilots: Number(values.pilots),
    warmup: Number(values.warmup),
    paths: values.paths!.split(',') as ArrivalPath[],
    progress: values.json ? undefined : (l) => process.stderr.write(`\r\x1b[2K${l}`),
  });
  if (values.json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  else {
    process.stderr.write('\r\x1b[2K');
    for (const r of results) process.stdout.write(`${formatArrival(r)}\n`);
    process.stdout.write('target (docs/design.md §10): data arrival → payload started p50 ≤ 1 s\n');
  }
  process.exit(0);
}
