import { existsSync, type FSWatcher, readFileSync, renameSync, watch, writeFileSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { globMatches } from '../../../shared/core/data/glob.ts';
import { parseDuration, parseSize } from '../../../shared/core/data/units.ts';
import type { Target } from '../client.ts';
import type { CliContext } from './context.ts';
import { postFiles, REGISTER_CHUNK, type Registered, retryable, summarise } from './data.ts';

/**
 * `p3s watch DIR` — the original tscan as a long-lived process: files in DIR newer than
 * `--since`, at least `--min-size`, named `--prefix*` or matching `--pattern`, at most
 * `--max-per-scan` per scan (oldest first), registered through `POST /data` (source `watch`,
 * the absolute path as location). Scans run every `--interval` seconds and, in continuous
 * mode, as soon as the directory changes (inotify). Restarting is safe: registration is
 * idempotent on the location, and `--state FILE` also keeps restarts from re-sending.
 */

export interface WatchOptions {
  dir: string;
  /** Seconds back from each scan (relative), or an absolute epoch ms cut-off. */
  since?: { relativeSec: number } | { absoluteMs: number };
  minSize: number;
  prefix?: string;
  pattern?: string;
  maxPerScan: number;
  intervalSec: number;
  settleSec: number;
  recursive: boolean;
  once: boolean;
  notify: boolean;
  datatype?: string;
  stateFile?: string;
  json: boolean;
}

interface Candidate {
  path: string;
  size: number;
  mtimeMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function listFiles(dir: string, recursive: boolean): Promise<string[]> {
  const out: string[] = [];
  const entries = await readdir(dir, { withFileTypes: true });
  for (const e of entries) {
    // Hidden files are the temporaries of rsync, scp and friends: never announce them.
    if (e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (recursive) out.push(...(await listFiles(p, true).catch(() => [])));
    } else if (e.isFile() || e.isSymbolicLink()) out.push(p);
  }
  return out;
}

/** One scan's candidates, oldest first (not yet limited to --max-per-scan). */
export async function findCandidates(o: WatchOptions, sent: ReadonlyMap<string, number>, nowMs: number) {
  const cutoff =
    o.since === undefined
      ? Number.NEGATIVE_INFINITY
      : 'relativeSec' in o.since
        ? nowMs - o.since.relativeSec * 1000
        : o.since.absoluteMs;
  const out: Candidate[] = [];
  const seen = new Set<string>();
  let tooSmall = 0;
  for (const path of await listFiles(o.dir, o.recursive)) {
    const name = path.slice(path.lastIndexOf('/') + 1);
    if (o.prefix && !name.startsWith(o.prefix)) continue;
    if (o.pattern && !globMatches(o.pattern, name)) continue;
    let st: Awaited<ReturnType<typeof stat>>;
    try {
      st = await stat(path);
    } catch {
      continue; // gone between readdir and stat
    }
    if (!st.isFile()) continue;
    seen.add(path);
    if (sent.has(path)) continue;
    if (st.mtimeMs <= cutoff) continue;
    if (st.mtimeMs > nowMs - o.settleSec * 1000) continue;
    if (st.size < o.minSize) {
      tooSmall++;
      continue;
    }
    out.push({ path, size: st.size, mtimeMs: st.mtimeMs });
  }
  out.sort((a, b) => a.mtimeMs - b.mtimeMs || a.path.localeCompare(b.path));
  return { candidates: out, seen, tooSmall, cutoff };
}

function loadState(file: string | undefined): Map<string, number> {
  if (!file || !existsSync(file)) return new Map();
  try {
    const s = JSON.parse(readFileSync(file, 'utf8')) as { sent?: Record<string, number> };
    return new Map(Object.entries(s.sent ?? {}));
  } catch {
    return new Map(); // a broken state file only costs re-sending (registration is idempotent)
  }
}

function saveState(file: string, sent: Map<string, number>): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, `${JSON.stringify({ version: 1, sent: Object.fromEntries(sent) })}\n`);
  renameSync(tmp, file);
}

export class Watcher {
  private sent: Map<string, number>;
  private stopped = false;
  private wake?: () => void;
  private pending = false;
  private fsw?: FSWatcher;

  constructor(
    private target: Target,
    private o: WatchOptions,
    private print: (line: string) => void,
  ) {
    this.sent = loadState(o.stateFile);
  }

  /** One scan: find, register (in chunks, with a few quick retries), remember what was sent. */
  async scan(): Promise<{ registered: Registered[]; waiting: number; failed?: string }> {
    const nowMs = Date.now();
    const { candidates, seen, tooSmall, cutoff } = await findCandidates(this.o, this.sent, nowMs);
    const take = candidates.slice(0, this.o.maxPerScan);
    const registered: Registered[] = [];
    let failed: string | undefined;
    for (let i = 0; i < take.length && !failed; i += REGISTER_CHUNK) {
      const chunk = take.slice(i, i + REGISTER_CHUNK);
      const files = chunk.map((c) => ({
        location: c.path,
        size: c.size,
        datatype: this.o.datatype,
        source: 'watch' as const,
      }));
      for (let attempt = 0; ; attempt++) {
        try {
          const results = await postFiles(this.target, files);
          results.forEach((r, k) => {
            // A file still `new` was being registered by someone else: look again next scan.
            if (r.state !== 'new') this.sent.set(chunk[k]!.path, chunk[k]!.mtimeMs);
          });
          registered.push(...results);
          break;
        } catch (err) {
          if (!retryable(err) || attempt >= 2) {
            failed = (err as Error).message;
            break;
          }
          await sleep(200 * 2 ** attempt);
        }
      }
    }
    // Forget files that are gone or fell behind --since: the state stays small.
    for (const [path, mtime] of this.sent) if (!seen.has(path) || mtime <= cutoff) this.sent.delete(path);
    if (this.o.stateFile) saveState(this.o.stateFile, this.sent);
    const waiting = candidates.length - take.length;
    this.report(registered, waiting, tooSmall, failed);
    return { registered, waiting, failed };
  }

  private report(registered: Registered[], waiting: number, tooSmall: number, failed?: string): void {
    if (this.o.json) {
      for (const r of registered)
        this.print(
          JSON.stringify({
            location: r.location,
            id: r.id,
            created: r.created,
            state: r.state,
            jobs: r.jobs,
          }),
        );
      if (failed) this.print(JSON.stringify({ error: failed }));
      return;
    }
    if (!registered.length && !failed && !this.o.once) return;
    const parts = [
      `${new Date().toISOString()} scan ${this.o.dir}: ${registered.length ? summarise(registered) : 'no new files'}`,
    ];
    if (waiting) parts.push(`${waiting} more waiting for the next scan`);
    if (tooSmall) parts.push(`${tooSmall} below --min-size`);
    if (failed) parts.push(`not registered: ${failed}`);
    this.print(parts.join('; '));
  }

  /** Scans until stopped: every interval, and soon after the directory changes. */
  async run(): Promise<number> {
    if (this.o.once) return (await this.scan()).failed ? 1 : 0;
    if (this.o.notify) {
      try {
        this.fsw = watch(this.o.dir, { recursive: this.o.recursive }, () => this.kick());
        this.fsw.on('error', () => {
          this.fsw?.close();
          this.fsw = undefined;
        });
      } catch {
        this.fsw = undefined; // no inotify (e.g. a network file system): the interval still scans
      }
    }
    this.print(
      this.o.json
        ? JSON.stringify({ watching: this.o.dir, interval: this.o.intervalSec, notify: Boolean(this.fsw) })
        : `${new Date().toISOString()} watching ${this.o.dir} every ${this.o.intervalSec} s${this.fsw ? ' and on changes' : ''}`,
    );
    while (!this.stopped) {
      this.pending = false;
      try {
        const r = await this.scan();
        // More candidates than --max-per-scan wait for the next interval, like the original.
        if (r.failed) this.print(`${new Date().toISOString()} will retry at the next scan`);
      } catch (err) {
        this.print(`${new Date().toISOString()} scan failed: ${(err as Error).message}`);
      }
      if (this.stopped) break;
      if (!this.pending)
        await new Promise<void>((r) => {
          const t = setTimeout(r, this.o.intervalSec * 1000);
          this.wake = () => {
            clearTimeout(t);
            r();
          };
        });
      this.wake = undefined;
    }
    this.fsw?.close();
    return 0;
  }

  /** A change in the directory: scan now (coalesced; a write burst makes one scan). */
  kick(): void {
    this.pending = true;
    const w = this.wake;
    if (w) setTimeout(w, 20);
  }

  stop(): void {
    this.stopped = true;
    this.wake?.();
  }
}

export function parseSince(v: string | undefined): WatchOptions['since'] {
  if (v === undefined) return undefined;
  const rel = parseDuration(v);
  if (rel !== undefined) return { relativeSec: rel };
  const abs = Date.parse(v);
  if (Number.isNaN(abs)) throw new Error(`--since ${v}: give a duration (10m, 2h) or an ISO time`);
  return { absoluteMs: abs };
}

export function registerWatch(program: Command, ctx: CliContext): void {
  program
    .command('watch <dir>')
    .description('directory watcher (the original tscan): registers new files in DIR; rules create the jobs')
    .option('--since <when>', 'only files modified within this duration (10m, 2h) or after this ISO time')
    .option('--min-size <size>', 'only files of at least this size (1k, 3900M)', '0')
    .option('--prefix <prefix>', 'only file names starting with this')
    .option('--pattern <glob>', 'only file names matching this glob, e.g. "np04*.root"')
    .option('--max-per-scan <n>', 'at most N files per scan, oldest first', '1000')
    .option('--interval <s>', 'seconds between scans', '5')
    .option('--settle <s>', 'only files unmodified for this many seconds', '0')
    .option('-r, --recursive', 'also scan subdirectories')
    .option('--once', 'one scan, then exit (cron style)')
    .option('--no-notify', 'scan on the interval only (no inotify)')
    .option('-T, --datatype <name>', 'datatype of every file (default: from the extension)')
    .option('--state <file>', 'remember registered files here across restarts')
    .option('--json', 'print one JSON line per registered file')
    .action(async (dir: string, o: Record<string, string | boolean | undefined>) => {
      const s = (k: string) => o[k] as string | undefined;
      const abs = resolve(dir);
      if (!existsSync(abs)) throw new Error(`${abs}: no such directory`);
      const minSize = parseSize(s('minSize') ?? '0');
      if (minSize === undefined) throw new Error(`--min-size ${s('minSize')}: give a size like 1k or 3900M`);
      const num = (k: string, min: number) => {
        const v = Number(s(k));
        if (!Number.isFinite(v) || v < min) throw new Error(`--${k} must be a number ≥ ${min}`);
        return v;
      };
      const w = new Watcher(
        ctx.target(),
        {
          dir: abs,
          since: parseSince(s('since')),
          minSize,
          prefix: s('prefix'),
          pattern: s('pattern'),
          maxPerScan: num('maxPerScan', 1),
          intervalSec: num('interval', 0.05),
          settleSec: num('settle', 0),
          recursive: Boolean(o.recursive),
          once: Boolean(o.once),
          notify: o.notify !== false,
          datatype: s('datatype'),
          stateFile: s('state') ? resolve(s('state')!) : undefined,
          json: Boolean(o.json || ctx.out().json),
        },
        (line) => process.stdout.write(`${line}\n`),
      );
      process.once('SIGINT', () => w.stop());
      process.once('SIGTERM', () => w.stop());
      const code = await w.run();
      process.exitCode = code;
      if (code) throw new Error('some files could not be registered');
    });
}
