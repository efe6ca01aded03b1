import { existsSync, type FSWatcher, readFileSync, renameSync, watch, writeFileSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { globMatches } from '../../../shared/core/data/glob.ts';
import { LocationError, normaliseLocation } from '../../../shared/core/data/location.ts';
import { decodeName, escapeName } from '../../../shared/core/data/names.ts';
import { parseDuration, parseSize } from '../../../shared/core/data/units.ts';
import { ApiError, type Target } from '../client.ts';
import type { CliContext } from './context.ts';
import { postFiles, REGISTER_CHUNK, type Registered, retryable, summarise } from './data.ts';

/**
 * `p3s watch DIR` — the original tscan as a long-lived process: files in DIR newer than
 * `--since`, at least `--min-size`, named `--prefix*` or matching `--pattern`, at most
 * `--max-per-scan` per scan (oldest first), registered through `POST /data` (source `watch`,
 * the absolute path as location). Scans run every `--interval` seconds and, in continuous
 * mode, as soon as the directory changes (inotify). Restarting is safe: registration is
 * idempotent on the location, and `--state FILE` also keeps restarts from re-sending.
 *
 * Never a half-written file: a file is taken once the watcher has seen its size and mtime
 * unchanged for `--settle` seconds (default 10) of its own clock, so a slow writer or a file
 * server with a skewed clock cannot make a growing file look finished. Never blocked by one
 * file: a name that cannot be registered (not UTF-8, control characters) or a file the server
 * refuses is skipped and reported once, and every other file is registered.
 */

interface WatchOptions {
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

/** Default `--settle`: DAQ files are written over minutes; 10 s without a change means closed. */
const DEFAULT_SETTLE_SEC = 10;

interface Candidate {
  path: string;
  size: number;
  mtimeMs: number;
}

/** A file that is not registered, and why. `name` is escaped for printing. */
interface Refusal {
  path: string;
  name: string;
  reason: string;
}

/** What the watcher saw of a file still settling: its size and mtime, and since when. */
interface Seen {
  size: number;
  mtimeMs: number;
  sinceMs: number;
}

interface ScanResult {
  registered: Registered[];
  /** Every file refused in this scan, reported before or not. */
  refused: Refusal[];
  /** Files whose size or mtime changed within the last --settle seconds. */
  settling: number;
  /** Acceptable files left for the next scan by --max-per-scan. */
  waiting: number;
  tooSmall: number;
  /** Why acceptable files could not be sent (server unreachable, 5xx, 401/403). */
  failed?: string;
  /** When the next settling file may be taken (epoch ms). */
  nextSettleMs?: number;
}

/** `--once` exit status: everything registered or pending. */
const EXIT_OK = 0;
/** `--once` exit status: some files were refused (the others are registered). */
const EXIT_REFUSED = 1;
/** `--once` exit status: acceptable files could not be sent; run again later. */
const EXIT_NOT_SENT = 3;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Listed = { path: string; name: string } | { refused: Refusal };

/** Files of `dir` (names as raw bytes, so a name that is not UTF-8 is seen, not mangled). */
async function listFiles(dir: string, recursive: boolean): Promise<Listed[]> {
  const out: Listed[] = [];
  const entries = await readdir(dir, { withFileTypes: true, encoding: 'buffer' });
  for (const e of entries) {
    const raw = e.name as unknown as Buffer;
    // Hidden files are the temporaries of rsync, scp and friends: never announce them.
    if (raw[0] === 0x2e) continue;
    const decoded = decodeName(raw);
    if (!decoded.ok) {
      if (e.isFile() || e.isSymbolicLink())
        out.push({
          refused: { path: `${dir}/${escapeName(raw)}`, name: escapeName(raw), reason: decoded.reason },
        });
      continue;
    }
    const p = join(dir, decoded.name);
    if (e.isDirectory()) {
      if (recursive) out.push(...(await listFiles(p, true).catch(() => [])));
    } else if (e.isFile() || e.isSymbolicLink()) out.push({ path: p, name: decoded.name });
  }
  return out;
}

/** Why a path cannot be a location (control characters, too long), or undefined if it can. */
function locationProblem(path: string): string | undefined {
  try {
    normaliseLocation(path);
    return undefined;
  } catch (err) {
    if (err instanceof LocationError) return `the location ${err.message}`;
    throw err;
  }
}

/**
 * One scan's candidates, oldest first (not yet limited to --max-per-scan), updating `seen`
 * (the settle observations). A file is a candidate once its size and mtime have not changed
 * for `settleSec` of this clock.
 */
async function findCandidates(
  o: WatchOptions,
  sent: ReadonlyMap<string, number>,
  seen: Map<string, Seen>,
  nowMs: number,
) {
  const cutoff =
    o.since === undefined
      ? Number.NEGATIVE_INFINITY
      : 'relativeSec' in o.since
        ? nowMs - o.since.relativeSec * 1000
        : o.since.absoluteMs;
  const out: Candidate[] = [];
  const present = new Set<string>();
  const refused: Refusal[] = [];
  let tooSmall = 0;
  let settling = 0;
  let nextSettleMs: number | undefined;
  for (const f of await listFiles(o.dir, o.recursive)) {
    if ('refused' in f) {
      present.add(f.refused.path);
      refused.push(f.refused);
      continue;
    }
    const { path, name } = f;
    if (o.prefix && !name.startsWith(o.prefix)) continue;
    if (o.pattern && !globMatches(o.pattern, name)) continue;
    let st: Awaited<ReturnType<typeof stat>>;
    try {
      st = await stat(path);
    } catch {
      continue; // gone between readdir and stat
    }
    if (!st.isFile()) continue;
    present.add(path);
    if (sent.has(path)) continue;
    if (st.mtimeMs <= cutoff) continue;
    if (st.size < o.minSize) {
      tooSmall++;
      continue;
    }
    const problem = locationProblem(path);
    if (problem) {
      refused.push({ path, name: escapeName(name), reason: problem });
      continue;
    }
    if (o.settleSec > 0) {
      const before = seen.get(path);
      if (!before || before.size !== st.size || before.mtimeMs !== st.mtimeMs) {
        seen.set(path, { size: st.size, mtimeMs: st.mtimeMs, sinceMs: nowMs });
        settling++;
        nextSettleMs = Math.min(nextSettleMs ?? Number.POSITIVE_INFINITY, nowMs + o.settleSec * 1000);
        continue;
      }
      const settledAt = before.sinceMs + o.settleSec * 1000;
      if (nowMs < settledAt) {
        settling++;
        nextSettleMs = Math.min(nextSettleMs ?? Number.POSITIVE_INFINITY, settledAt);
        continue;
      }
    }
    out.push({ path, size: st.size, mtimeMs: st.mtimeMs });
  }
  for (const path of seen.keys()) if (!present.has(path)) seen.delete(path);
  out.sort((a, b) => a.mtimeMs - b.mtimeMs || a.path.localeCompare(b.path));
  return { candidates: out, present, refused, tooSmall, settling, nextSettleMs, cutoff };
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

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

class Watcher {
  private sent: Map<string, number>;
  private seen = new Map<string, Seen>();
  /** Refused files already reported, with the reason (and the size/mtime the server refused). */
  private reported = new Map<string, string>();
  /** Files the server refused, by path → `size:mtime`: not re-sent unless they change. */
  private serverRefused = new Map<string, { key: string; reason: string }>();
  private stopped = false;
  private wake?: () => void;
  private pending = false;
  private fsw?: FSWatcher;
  private lastPending = '';
  private lastScanMs = 0;

  constructor(
    private target: Target,
    private o: WatchOptions,
    private print: (line: string) => void,
  ) {
    this.sent = loadState(o.stateFile);
  }

  /** One scan: find, register (in chunks, with a few quick retries), remember what was sent. */
  async scan(): Promise<ScanResult> {
    const nowMs = Date.now();
    this.lastScanMs = nowMs;
    const found = await findCandidates(this.o, this.sent, this.seen, nowMs);
    const refused = [...found.refused];
    const candidates = found.candidates.filter((c) => {
      const r = this.serverRefused.get(c.path);
      if (!r) return true;
      if (r.key !== `${c.size}:${c.mtimeMs}`) {
        this.serverRefused.delete(c.path); // changed since: worth another try
        return true;
      }
      refused.push({ path: c.path, name: escapeName(c.path.slice(this.o.dir.length + 1)), reason: r.reason });
      return false;
    });
    const take = candidates.slice(0, this.o.maxPerScan);
    const registered: Registered[] = [];
    let failed: string | undefined;
    for (let i = 0; i < take.length && !failed; i += REGISTER_CHUNK) {
      const r = await this.register(take.slice(i, i + REGISTER_CHUNK));
      registered.push(...r.registered);
      refused.push(...r.refused);
      failed = r.failed;
    }
    // Forget files that are gone or fell behind --since: the state stays small.
    for (const [path, mtime] of this.sent)
      if (!found.present.has(path) || mtime <= found.cutoff) this.sent.delete(path);
    for (const path of [...this.reported.keys(), ...this.serverRefused.keys()])
      if (!found.present.has(path)) {
        this.reported.delete(path);
        this.serverRefused.delete(path);
      }
    if (this.o.stateFile) saveState(this.o.stateFile, this.sent);
    const result: ScanResult = {
      registered,
      refused,
      settling: found.settling,
      waiting: candidates.length - take.length,
      tooSmall: found.tooSmall,
      failed,
      nextSettleMs: found.nextSettleMs,
    };
    this.report(result);
    return result;
  }

  /**
   * Registers a chunk; a 400 (one bad file makes the whole request a 400) splits it to find the
   * file(s) the server refuses, which are skipped; the others are registered.
   */
  private async register(chunk: Candidate[]): Promise<{
    registered: Registered[];
    refused: Refusal[];
    failed?: string;
  }> {
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
          const c = chunk[k]!;
          this.seen.delete(c.path);
          // A file still `new` was being registered by someone else: look again next scan.
          if (r.state !== 'new') this.sent.set(c.path, c.mtimeMs);
        });
        return { registered: results, refused: [] };
      } catch (err) {
        const refusedHere = err instanceof ApiError && err.status === 400;
        if (refusedHere && chunk.length > 1) {
          const out = {
            registered: [] as Registered[],
            refused: [] as Refusal[],
            failed: undefined as string | undefined,
          };
          for (const c of chunk) {
            const r = await this.register([c]);
            out.registered.push(...r.registered);
            out.refused.push(...r.refused);
            if (r.failed) {
              out.failed = r.failed;
              break;
            }
          }
          return out;
        }
        if (refusedHere) {
          const c = chunk[0]!;
          const reason = `refused by the server: ${(err as Error).message}`;
          this.serverRefused.set(c.path, { key: `${c.size}:${c.mtimeMs}`, reason });
          return {
            registered: [],
            refused: [{ path: c.path, name: escapeName(c.path.slice(this.o.dir.length + 1)), reason }],
          };
        }
        if (!retryable(err) || attempt >= 2)
          return { registered: [], refused: [], failed: (err as Error).message };
        await sleep(200 * 2 ** attempt);
      }
    }
  }

  private report(r: ScanResult): void {
    const fresh = r.refused.filter((x) => this.reported.get(x.path) !== x.reason);
    for (const x of fresh) this.reported.set(x.path, x.reason);
    const pending: string[] = [];
    if (r.refused.length) pending.push(`${plural(r.refused.length, 'file')} refused`);
    if (r.settling)
      pending.push(`${plural(r.settling, 'file')} waiting to settle (--settle ${this.o.settleSec} s)`);
    if (r.waiting) pending.push(`${r.waiting} more waiting for the next scan (--max-per-scan)`);
    if (r.tooSmall) pending.push(`${r.tooSmall} below --min-size`);
    // Continuous mode prints what changes (a registration, a refusal, a failure, other files
    // pending), not the same line every few seconds; --once always says what it found.
    const pendingChanged = pending.join('; ') !== this.lastPending;
    this.lastPending = pending.join('; ');
    const print =
      this.o.once ||
      r.registered.length > 0 ||
      fresh.length > 0 ||
      r.failed ||
      (pendingChanged && pending.length > 0);
    const now = new Date().toISOString();
    if (this.o.json) {
      for (const x of r.registered)
        this.print(
          JSON.stringify({
            location: x.location,
            id: x.id,
            created: x.created,
            state: x.state,
            jobs: x.jobs,
          }),
        );
      for (const x of fresh) this.print(JSON.stringify({ refused: x.name, path: x.path, reason: x.reason }));
      if (r.failed) this.print(JSON.stringify({ error: r.failed }));
      if ((r.settling || r.waiting) && (this.o.once || pendingChanged))
        this.print(JSON.stringify({ pending: { settling: r.settling, waiting: r.waiting } }));
      return;
    }
    for (const x of fresh) this.print(`${now} refused ${x.name}: ${x.reason}`);
    if (!print) return;
    const parts = [...(r.registered.length ? [summarise(r.registered)] : []), ...pending];
    if (r.failed) parts.push(`not registered: ${r.failed}`);
    this.print(`${now} scan ${this.o.dir}: ${parts.length ? parts.join('; ') : 'no new files'}`);
  }

  /**
   * `--once`: a scan, and if files are still settling, one more when the first of them may be
   * taken (at most --settle later). Files still changing then are left for the next run.
   */
  async runOnce(): Promise<number> {
    let r = await this.scan();
    let refused = r.refused.length > 0;
    let failed = Boolean(r.failed);
    if (r.settling && r.nextSettleMs !== undefined && !failed) {
      // Files first seen in this run settle together: one pause, one more scan.
      const waitMs = Math.max(0, r.nextSettleMs - Date.now());
      if (!this.o.json)
        this.print(
          `${new Date().toISOString()} waiting ${Math.ceil(waitMs / 1000)} s for ${plural(r.settling, 'file')} to settle`,
        );
      await sleep(waitMs);
      r = await this.scan();
      refused ||= r.refused.length > 0;
      failed ||= Boolean(r.failed);
    }
    return failed ? EXIT_NOT_SENT : refused ? EXIT_REFUSED : EXIT_OK;
  }

  /** Scans until stopped: every interval, soon after the directory changes, and when a file settles. */
  async run(): Promise<number> {
    if (this.o.once) return this.runOnce();
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
        ? JSON.stringify({
            watching: this.o.dir,
            interval: this.o.intervalSec,
            settle: this.o.settleSec,
            notify: Boolean(this.fsw),
          })
        : `${new Date().toISOString()} watching ${this.o.dir} every ${this.o.intervalSec} s${this.fsw ? ' and on changes' : ''}; files are taken ${this.o.settleSec} s after their last change`,
    );
    while (!this.stopped) {
      this.pending = false;
      let nextSettleMs: number | undefined;
      try {
        const r = await this.scan();
        nextSettleMs = r.nextSettleMs;
        // More candidates than --max-per-scan wait for the next interval, like the original.
        if (r.failed) this.print(`${new Date().toISOString()} will retry at the next scan`);
      } catch (err) {
        this.print(`${new Date().toISOString()} scan failed: ${(err as Error).message}`);
      }
      if (this.stopped) break;
      // Sleep until the interval, or until the first settling file may be taken if sooner; a
      // change seen meanwhile scans again soon (a file being written fires a change per write:
      // at most four scans a second then).
      const now = Date.now();
      const waitMs = this.pending
        ? Math.max(0, this.lastScanMs + 250 - now)
        : Math.min(
            this.o.intervalSec * 1000,
            nextSettleMs === undefined ? Infinity : Math.max(0, nextSettleMs - now) + 20,
          );
      await new Promise<void>((r) => {
        const t = setTimeout(r, waitMs);
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
    // A file being written fires a change per write: at most four scans a second then.
    if (w) setTimeout(w, Math.max(20, this.lastScanMs + 250 - Date.now()));
  }

  stop(): void {
    this.stopped = true;
    this.wake?.();
  }
}

function parseSince(v: string | undefined): WatchOptions['since'] {
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
    .option(
      '--settle <s>',
      'take a file once its size and mtime have not changed for this many seconds (0: at once, for writers that rename into place)',
      String(DEFAULT_SETTLE_SEC),
    )
    .option('-r, --recursive', 'also scan subdirectories')
    .option(
      '--once',
      'one scan (two if files are settling), then exit: 0 all taken or pending, 1 some refused, 3 not sent',
    )
    .option('--no-notify', 'scan on the interval only (no inotify)')
    .option('-T, --datatype <name>', 'datatype of every file (default: from the extension)')
    .option('--state <file>', 'remember registered files here across restarts')
    .option('--json', 'print one JSON line per registered or refused file')
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
      if (code === EXIT_REFUSED)
        process.stderr.write('p3s: some files were refused (see above); the others are registered\n');
      if (code === EXIT_NOT_SENT)
        process.stderr.write('p3s: some files could not be registered; run again later\n');
      process.exit(code);
    });
}
