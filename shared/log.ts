import { config } from './config.ts';

const levels = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 } as const;
type Level = Exclude<keyof typeof levels, 'silent'>;

/** One log line before it is written: `{t, level, msg, ...fields}`. */
export type LogRecord = { t: string; level?: string; msg: string } & Record<string, unknown>;

/** Fields that differ between otherwise identical errors (each request, each record has its own). */
const VOLATILE = new Set(['t', 'requestId', 'seq', 'records']);

/**
 * Collapses repeats of the same warning or error: the first one is written at once, the
 * repeats within `windowMs` are counted, and when the window ends one line says
 * `<msg> (repeated N times in the last 60 s)`. "The same" means the same level, message and
 * fields apart from timestamps, request ids and sequence numbers — a dependency that is down
 * makes every request fail the same way, and one line a minute says so as well as a thousand.
 * Debug and info lines pass untouched.
 */
export function repeatLimiter(
  write: (rec: LogRecord) => void,
  opts: { windowMs?: number; now?: () => number } = {},
): ((rec: LogRecord) => void) & { flush(): void } {
  const windowMs = opts.windowMs ?? 60_000;
  const now = opts.now ?? Date.now;
  const seen = new Map<string, { since: number; repeats: number; last: LogRecord }>();
  const summarise = (s: { since: number; repeats: number; last: LogRecord }) => {
    if (!s.repeats) return;
    const secs = Math.max(1, Math.round((now() - s.since) / 1000));
    write({
      ...s.last,
      t: new Date(now()).toISOString(),
      msg: `${s.last.msg} (repeated ${s.repeats} time${s.repeats === 1 ? '' : 's'} in the last ${secs} s)`,
    });
  };
  /** Ends the windows that are over (or all of them): their repeat counts are written. */
  const flush = (all = false) => {
    const t = now();
    for (const [key, s] of seen) {
      if (!all && t - s.since < windowMs) continue;
      summarise(s);
      seen.delete(key);
    }
  };
  let timer: NodeJS.Timeout | undefined;
  const limited = (rec: LogRecord) => {
    if (rec.level !== 'warn' && rec.level !== 'error') return write(rec);
    const key = JSON.stringify(Object.entries(rec).filter(([k]) => !VOLATILE.has(k)));
    const s = seen.get(key);
    if (s && now() - s.since < windowMs) {
      s.repeats++;
      s.last = rec;
      return;
    }
    if (s) summarise(s);
    seen.set(key, { since: now(), repeats: 0, last: rec });
    write(rec);
    // Summaries of a burst that stopped are still written; the timer never keeps a process alive.
    timer ??= setInterval(() => {
      flush();
      if (!seen.size) {
        clearInterval(timer);
        timer = undefined;
      }
    }, windowMs / 6).unref();
  };
  return Object.assign(limited, { flush: () => flush(true) });
}

const limited = repeatLimiter((rec) => {
  const line = `${JSON.stringify(rec)}\n`;
  if (rec.level === 'error' || rec.level === 'warn') process.stderr.write(line);
  else process.stdout.write(line);
});

function emit(level: Level, msg: string, fields?: Record<string, unknown>): void {
  if (levels[level] < levels[config().P3S_LOG_LEVEL]) return;
  limited({ t: new Date().toISOString(), level, msg, ...fields });
}

/** Structured one-line JSON logs (CloudWatch on AWS, `$P3S_HOME/logs` locally). */
export const log = {
  debug: (msg: string, f?: Record<string, unknown>) => emit('debug', msg, f),
  info: (msg: string, f?: Record<string, unknown>) => emit('info', msg, f),
  warn: (msg: string, f?: Record<string, unknown>) => emit('warn', msg, f),
  error: (msg: string, f?: Record<string, unknown>) => emit('error', msg, f),
};
