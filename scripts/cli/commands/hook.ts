import { randomBytes } from 'node:crypto';
import { appendFileSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Command } from 'commander';
import { LocationError, normaliseLocation } from '../../../shared/core/data/location.ts';
import { decodeName, escapeName } from '../../../shared/core/data/names.ts';
import {
  LineSplitter,
  NOTIFY_KEY,
  notifyLocation,
  notifyMsgLine,
  parseNotifyLine,
} from '../../../shared/core/data/xrootd.ts';
import { ApiError, type Target } from '../client.ts';
import type { CliContext } from './context.ts';
import { type FileToRegister, postFiles, retryable, summarise } from './data.ts';

/**
 * `p3s hook xrootd` — the program behind `ofs.notify closew |…`. XRootD starts it once and
 * writes one line per closed file to its stdin. It must never block or crash the server: stdin
 * is always read at once into a bounded queue; batches go to `POST /data` in the background
 * with retries and backoff; lines that are not a notification (a forged or cut line, a name
 * that is not UTF-8 or has control characters) and files the server rejects are logged,
 * escaped, and skipped — the others are registered; server errors are retried forever; on EOF
 * (or SIGTERM) it flushes for a while and exits 0. Line formats: shared/core/data/xrootd.ts.
 */

interface HookOptions {
  urlPrefix?: string;
  localRoot?: string;
  /** The ofs.notifymsg key; without one, only the legacy formats are accepted. */
  key?: string;
  datatype?: string;
  batchMax: number;
  batchMs: number;
  maxQueue: number;
  drainSec: number;
  logFile?: string;
  json: boolean;
}

type Logger = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

function makeLogger(o: HookOptions): Logger {
  // A closed stderr must not kill the hook (EPIPE is emitted as an error event).
  process.stderr.on('error', () => {});
  return (level, msg, fields) => {
    const line = o.json
      ? JSON.stringify({ t: new Date().toISOString(), level, msg, ...fields })
      : `${new Date().toISOString()} p3s-hook ${level}: ${msg}${fields ? ` ${JSON.stringify(fields)}` : ''}`;
    try {
      if (o.logFile) appendFileSync(o.logFile, `${line}\n`);
      else process.stderr.write(`${line}\n`);
    } catch {
      // Logging must never take the hook down.
    }
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Batches files to the server; one request in flight at a time. */
class Batcher {
  private queue: FileToRegister[] = [];
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private draining = false;
  private drainUntil = 0;
  registered = 0;
  dropped = 0;

  constructor(
    private target: Target,
    private o: Pick<HookOptions, 'batchMax' | 'batchMs' | 'maxQueue'>,
    private log: Logger,
  ) {}

  push(f: FileToRegister): void {
    if (this.queue.length >= this.o.maxQueue) {
      const lost = this.queue.shift()!;
      this.dropped++;
      this.log('error', 'queue full: dropping the oldest file', {
        location: lost.location,
        queued: this.queue.length,
      });
    }
    this.queue.push(f);
    this.schedule();
  }

  private schedule(): void {
    if (this.running || this.timer || this.draining) return;
    const delay = this.queue.length >= this.o.batchMax ? 0 : this.o.batchMs;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.flushAll().finally(() => {
        this.running = undefined;
        if (this.queue.length) this.schedule();
      });
    }, delay);
  }

  private async flushAll(): Promise<void> {
    while (this.queue.length) {
      const batch = this.queue.splice(0, this.o.batchMax);
      await this.send(batch);
    }
  }

  /** Sends until accepted; splits a rejected batch to find and skip the bad file(s). */
  private async send(batch: FileToRegister[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        const results = await postFiles(this.target, batch);
        this.registered += results.length;
        this.log('info', `registered ${summarise(results)}`, {
          queued: this.queue.length,
          files: results.map((r) => ({
            location: r.location,
            created: r.created,
            state: r.state,
            jobs: r.jobs.length,
          })),
        });
        return;
      } catch (err) {
        if (!retryable(err) && !(err instanceof ApiError && (err.status === 401 || err.status === 403))) {
          if (batch.length > 1) {
            for (const f of batch) await this.send([f]);
            return;
          }
          this.dropped++;
          this.log('error', 'file rejected by the server, skipped', {
            location: batch[0]!.location,
            err: (err as Error).message,
          });
          return;
        }
        if (this.draining && Date.now() > this.drainUntil) {
          this.dropped += batch.length;
          this.log('error', 'giving up at exit: files not registered', {
            locations: batch.map((f) => f.location),
            err: (err as Error).message,
          });
          return;
        }
        const wait = Math.min(30_000, 100 * 2 ** Math.min(attempt, 9)) * (0.75 + Math.random() / 2);
        if (attempt < 3 || attempt % 10 === 0)
          this.log('warn', `server not accepting files; retry ${attempt + 1} in ${Math.round(wait)} ms`, {
            files: batch.length,
            queued: this.queue.length,
            err: (err as Error).message,
          });
        await sleep(this.draining ? Math.min(wait, Math.max(0, this.drainUntil - Date.now())) : wait);
      }
    }
  }

  /** Sends what is queued, retrying for at most `seconds`. */
  async drain(seconds: number): Promise<void> {
    this.draining = true;
    this.drainUntil = Date.now() + seconds * 1000;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    while (this.running || this.queue.length) {
      if (this.running) await this.running;
      else this.running = this.flushAll().finally(() => (this.running = undefined));
    }
  }
}

/** Runs the hook until stdin ends; resolves with the exit code (always 0). */
async function runXrootdHook(target: Target, o: HookOptions): Promise<number> {
  const log = makeLogger(o);
  process.on('uncaughtException', (err) =>
    log('error', 'unexpected error (continuing)', { err: String(err?.stack ?? err) }),
  );
  process.on('unhandledRejection', (err) =>
    log('error', 'unexpected rejection (continuing)', { err: String(err) }),
  );
  const urlPrefix = o.localRoot ? undefined : (o.urlPrefix ?? `root://${hostname()}/`);
  log('info', 'started', {
    server: target.server,
    urlPrefix,
    localRoot: o.localRoot,
    token: Boolean(target.token),
    key: Boolean(o.key),
  });
  if (!o.key)
    log(
      'warn',
      'no notify key (--key-file or $P3S_XROOTD_KEY): accepting the legacy closew lines, which a file name with a newline in it can forge; see docs/data-arrival.md',
    );
  const batcher = new Batcher(target, o, log);
  let lines = 0;
  let refused = 0;
  // Never log the key: a refused line is shown escaped (bytes that are not UTF-8 as \xNN, on
  // one line), clipped, with the key blanked out.
  const shown = (bytes: Buffer) => {
    const raw = bytes.toString('latin1'); // one char per byte: redacts and clips without decoding
    const t = o.key ? raw.replaceAll(o.key, '<key>') : raw;
    return escapeName(Buffer.from(t.length > 300 ? `${t.slice(0, 300)}...` : t, 'latin1'));
  };
  const skip = (reason: string, line: string) => {
    refused++;
    log('warn', `line skipped: ${reason}: ${line}`);
  };
  const onLine = (bytes: Buffer) => {
    lines++;
    const decoded = decodeName(bytes);
    if (!decoded.ok) return skip(decoded.reason, shown(bytes));
    const text = decoded.name;
    const ev = parseNotifyLine(text, { key: o.key });
    if (!ev.ok) {
      if (ev.reason !== 'empty line') skip(ev.reason, shown(bytes));
      return;
    }
    let location: string;
    try {
      location = notifyLocation(ev.lfn, { urlPrefix, localRoot: o.localRoot });
      normaliseLocation(location);
    } catch (err) {
      const reason = err instanceof LocationError ? `the location ${err.message}` : (err as Error).message;
      return skip(reason, shown(bytes));
    }
    batcher.push({ location, size: ev.size, datatype: o.datatype, source: 'xrootd' });
  };
  const splitter = new LineSplitter();
  const onResult = (r: { line: Buffer } | { overlong: number }) => {
    if ('line' in r) onLine(r.line);
    else {
      lines++;
      skip(`a line of ${r.overlong} bytes: longer than any notification`, '');
    }
  };
  process.stdin.on('data', (chunk: Buffer) => {
    for (const r of splitter.push(chunk)) onResult(r);
  });
  const ended = new Promise<string>((resolve) => {
    process.stdin.once('end', () => resolve('end of input'));
    process.stdin.once('error', (err) => resolve(`stdin: ${err.message}`));
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  const why = await ended;
  for (const r of splitter.end()) onResult(r);
  process.stdin.pause();
  await batcher.drain(o.drainSec);
  log('info', `stopping (${why})`, {
    lines,
    refused,
    registered: batcher.registered,
    dropped: batcher.dropped,
  });
  return 0;
}

/** The notify key: `--key-file`, else `$P3S_XROOTD_KEY`; checked so XRootD can carry it. */
function readKey(file: string | undefined, env: string | undefined): string | undefined {
  const key = file ? readFileSync(file, 'utf8').trim() : env?.trim() || undefined;
  if (key !== undefined && !NOTIFY_KEY.test(key))
    throw new Error(
      `the notify key${file ? ` in ${file}` : ' ($P3S_XROOTD_KEY)'} must be 16–128 letters, digits, _ or - (make one with: p3s hook xrootd --new-key)`,
    );
  return key;
}

export function registerHook(program: Command, ctx: CliContext): void {
  const hook = program.command('hook').description('data-arrival hooks run by storage servers');
  hook
    .command('xrootd')
    .description(
      'the ofs.notify closew program: reads "KEY closew <size> <lfn> KEY" lines on stdin, registers the files',
    )
    .option(
      '--url-prefix <url>',
      'location prefix, e.g. root://host:1094/ (default $P3S_XROOTD_URL, else root://<hostname>/)',
    )
    .option('--local-root <dir>', 'register POSIX paths <dir><lfn> instead (payloads read the server disk)')
    .option(
      '--key-file <file>',
      'the ofs.notifymsg key (default $P3S_XROOTD_KEY); only keyed lines are then accepted',
    )
    .option('--new-key', 'print a fresh key and the ofs.notifymsg line that uses it, then exit')
    .option('-T, --datatype <name>', 'datatype of every file (default: from the extension)')
    .option('--batch-max <n>', 'files per request', '100')
    .option('--batch-ms <ms>', 'wait this long to fill a batch', '50')
    .option('--max-queue <n>', 'files held while the server is unreachable (oldest dropped beyond)', '100000')
    .option('--drain <s>', 'at end of input, keep sending for at most this long', '60')
    .option('--log <file>', 'append log lines here instead of stderr')
    .option('--json', 'log JSON lines')
    .action(async (o: Record<string, string | boolean | undefined>) => {
      const n = (k: string, min: number) => {
        const v = Number(o[k]);
        if (!Number.isFinite(v) || v < min)
          throw new Error(`--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} must be a number ≥ ${min}`);
        return v;
      };
      if (o.newKey) {
        const key = randomBytes(24).toString('base64url');
        process.stdout.write(`${key}\n# in the XRootD config:\n${notifyMsgLine(key)}\n`);
        return;
      }
      const code = await runXrootdHook(ctx.target(), {
        urlPrefix: (o.urlPrefix as string | undefined) ?? process.env.P3S_XROOTD_URL,
        localRoot: o.localRoot as string | undefined,
        key: readKey(o.keyFile as string | undefined, process.env.P3S_XROOTD_KEY),
        datatype: o.datatype as string | undefined,
        batchMax: n('batchMax', 1),
        batchMs: n('batchMs', 0),
        maxQueue: n('maxQueue', 1),
        drainSec: n('drain', 0),
        logFile: o.log as string | undefined,
        json: Boolean(o.json),
      });
      process.exit(code);
    });
}
