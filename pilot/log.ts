/**
 * The pilot's log: one line per event on stderr (text, or JSON with --json), and the same
 * line in `<pilotlog>/<pilot-id>.log` when a pilot log directory is set.
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };

type Fields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  /** Also write to `<dir>/<name>.log` from now on (the pilot id is known only after start). */
  toFile(dir: string, name: string): void;
  close(): void;
}

export interface LoggerOptions {
  level: LogLevel;
  json: boolean;
  /** Written on every line: the pilot id, once known. */
  tag?: () => string | undefined;
  write?: (line: string) => void;
}

export function createLogger(opts: LoggerOptions): Logger {
  const write = opts.write ?? ((line: string) => process.stderr.write(line));
  let fd: number | undefined;
  const emit = (level: Exclude<LogLevel, 'silent'>, msg: string, fields: Fields = {}) => {
    if (rank[level] < rank[opts.level]) return;
    const time = new Date().toISOString();
    const pilot = opts.tag?.();
    const line = opts.json
      ? `${JSON.stringify({ time, level, pilot, msg, ...fields })}\n`
      : `${time} p3s-pilot${pilot ? ` ${pilot.slice(0, 8)}` : ''} ${level} ${msg}${text(fields)}\n`;
    write(line);
    if (fd !== undefined) writeSync(fd, line);
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    toFile(dir, name) {
      mkdirSync(dir, { recursive: true });
      fd = openSync(join(dir, `${name}.log`), 'a');
    },
    close() {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}

function text(fields: Fields): string {
  let out = '';
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    const s = typeof v === 'string' ? v : JSON.stringify(v);
    out += ` ${k}=${/[\s"=]/.test(s) ? JSON.stringify(s) : s}`;
  }
  return out;
}
