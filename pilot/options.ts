/**
 * argv + environment → pilot options. Values left undefined here (cycles, period, beat,
 * lifetime, wait) are settled after registration from the server's `config` (see settle()).
 */
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { LOG_LEVELS, type LogLevel } from './log.ts';
import type { SiteConfig } from './protocol.ts';

export interface Options {
  server: string;
  token: string;
  site?: string;
  cycles?: number;
  period?: number;
  beat?: number;
  lifetime?: number;
  wait?: number;
  grace: number;
  killGrace: number;
  joblog: string;
  workdir: string;
  pilotlog?: string;
  extra?: string;
  count: number;
  inProcess: boolean;
  once: boolean;
  envAllow: string[];
  json: boolean;
  logLevel: LogLevel;
}

export type Command = { kind: 'help' } | { kind: 'version' } | { kind: 'run'; options: Options };

/** Bad command line or missing token: main prints the message and exits 2. */
export class UsageError extends Error {
  readonly code = 'usage';
}

/** The pilot's own environment that payloads see unless --env-allow says otherwise (`*` = prefix). */
const DEFAULT_ENV_ALLOW = ['PATH', 'HOME', 'USER', 'LANG', 'TZ', 'TMPDIR', 'SHELL', 'P3S_*'];

export const USAGE = `Usage: p3s-pilot [options]

Registers with the p3s server, polls for jobs, runs them, reports, and polls again.

  -S, --server URL      server (default $P3S_SERVER, else http://127.0.0.1:$P3S_PORT, the local
                        stack's port, else http://127.0.0.1:8080)
      --token T         pilot token (default $P3S_TOKEN, else $P3S_HOME/pilot.token;
                        P3S_HOME defaults to ./.p3s)
  -s, --site NAME       site name (default $P3S_SITE); the server answers with the site's settings
  -c, --cycles N        polls + jobs before exiting; 0 = forever (default: server's, else 0)
  -p, --period S        pause after an empty poll (default: 0 with long-poll, else server's, else 5)
  -w, --wait S          long-poll: seconds the server may hold a poll (default: server's, else 20)
  -b, --beat S          heartbeat period while a job runs (default: server's, else 5)
      --lifetime S      take no new work after S seconds; 0 = no limit (default: server's, else 0)
      --once            run at most one job, then exit (empty polls still count as cycles)
      --grace S         on SIGTERM/SIGINT, let the running payload finish for S seconds (default 10)
      --kill-grace S    between SIGTERM and SIGKILL of a payload's process group (default 5)
  -L, --joblog DIR      payload stdout/stderr as DIR/<job>.out|.err
                        (default $P3S_JOBLOG, else <tmp>/p3s/jobs)
      --workdir DIR     per-job work directories DIR/<job>/ (default $P3S_WORKDIR,
                        else <joblog>/../work)
  -l, --pilotlog DIR    also log to DIR/<pilot>.log (default $P3S_PILOTLOG, else stderr only)
  -e, --extra ID        batch id (default $P3S_EXTRA, $SLURM_JOB_ID, or HTCondor ClusterId.ProcId)
  -n, --count N         run N pilots, one child process each (default 1)
      --in-process      with --count: run the N pilots as N loops in this process (cheaper,
                        for many pilots on one machine; payloads are still own processes)
      --env-allow LIST  pilot variables passed to payloads, comma separated, NAME or PREFIX*
                        (default ${DEFAULT_ENV_ALLOW.join(',')}; P3S_TOKEN never passes)
      --json            log JSON lines
      --log-level L     debug, info, warn, error, silent (default $P3S_LOG_LEVEL, else info)
  -h, --help            this text
  -V, --version         print the version

Exit: 0 after a normal stop (cycles, lifetime, --once, drain, kill, SIGTERM/SIGINT),
2 bad usage, 3 token refused (401/403), 4 pilot refused by the server (400/404/409), 1 other errors.
`;

const spec = {
  server: { type: 'string', short: 'S' },
  token: { type: 'string' },
  site: { type: 'string', short: 's' },
  cycles: { type: 'string', short: 'c' },
  period: { type: 'string', short: 'p' },
  wait: { type: 'string', short: 'w' },
  beat: { type: 'string', short: 'b' },
  lifetime: { type: 'string' },
  once: { type: 'boolean' },
  grace: { type: 'string' },
  'kill-grace': { type: 'string' },
  joblog: { type: 'string', short: 'L' },
  workdir: { type: 'string' },
  pilotlog: { type: 'string', short: 'l' },
  extra: { type: 'string', short: 'e' },
  count: { type: 'string', short: 'n' },
  'in-process': { type: 'boolean' },
  'env-allow': { type: 'string' },
  json: { type: 'boolean' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
} as const;

/** Parses argv (without node and script) against the environment; throws UsageError. */
export function parseOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): Command {
  let values: ReturnType<typeof parseArgs<{ options: typeof spec }>>['values'];
  try {
    ({ values } = parseArgs({ args: argv, options: spec, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return { kind: 'help' };
  if (values.version) return { kind: 'version' };

  const joblog = resolve(values.joblog ?? env.P3S_JOBLOG ?? join(tmpdir(), 'p3s', 'jobs'));
  const logLevel = values['log-level'] ?? env.P3S_LOG_LEVEL ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  }
  const site = values.site ?? nonEmpty(env.P3S_SITE);
  if (site !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(site)) {
    throw new UsageError('--site must be 1–64 characters of letters, digits, _ . -');
  }
  const options: Options = {
    server: (values.server ?? defaultServer(env, (m) => new UsageError(m))).replace(/\/+$/, ''),
    token: '',
    site,
    cycles: num('cycles', values.cycles, { integer: true }),
    period: num('period', values.period),
    wait: num('wait', values.wait, { integer: true }),
    beat: num('beat', values.beat, { positive: true }),
    lifetime: num('lifetime', values.lifetime),
    grace: num('grace', values.grace) ?? 10,
    killGrace: num('kill-grace', values['kill-grace']) ?? 5,
    joblog,
    workdir: resolve(values.workdir ?? nonEmpty(env.P3S_WORKDIR) ?? join(dirname(joblog), 'work')),
    pilotlog: optionalPath(values.pilotlog ?? nonEmpty(env.P3S_PILOTLOG)),
    extra: values.extra ?? batchId(env),
    count: num('count', values.count, { integer: true, positive: true }) ?? 1,
    inProcess: values['in-process'] ?? false,
    once: values.once ?? false,
    envAllow: values['env-allow'] !== undefined ? list(values['env-allow']) : DEFAULT_ENV_ALLOW,
    json: values.json ?? false,
    logLevel: logLevel as LogLevel,
  };
  if (!/^https?:\/\/[^/]/.test(options.server)) throw new UsageError('--server must be an http(s) URL');
  options.token = token(values.token, env); // last: a bad option is the better message
  return { kind: 'run', options };
}

/**
 * Where clients (pilot, CLI, watchers) find the server without --server: $P3S_SERVER, else the
 * local stack on this machine — `npm start` listens on $P3S_PORT (default 8080), so a shell
 * that exported P3S_PORT for it reaches it too.
 */
export function defaultServer(
  env: NodeJS.ProcessEnv,
  fail: (message: string) => Error = (m) => new Error(m),
): string {
  const server = nonEmpty(env.P3S_SERVER);
  if (server) return server;
  const port = nonEmpty(env.P3S_PORT)?.trim();
  if (port === undefined) return 'http://127.0.0.1:8080';
  const n = Number(port);
  if (!/^\d+$/.test(port) || n < 1 || n > 65535)
    throw fail(`P3S_PORT must be the local stack's port (1-65535), not '${port}' (or set P3S_SERVER)`);
  return `http://127.0.0.1:${n}`;
}

/** What the pilot runs with once the server's site config is known: the command line wins. */
export interface Settings {
  cycles: number;
  period: number;
  wait: number;
  beat: number;
  lifetime: number;
  siteEnv: Record<string, string>;
  /** The server can answer a job's final report with the next job (one round trip less per job). */
  reportNext: boolean;
}

export function settle(o: Options, config: SiteConfig): Settings {
  const wait = o.wait ?? config.longpoll ?? 20;
  return {
    cycles: o.cycles ?? config.cycles ?? 0,
    wait,
    // With long-poll the server already held the request: pausing again only adds latency.
    period: o.period ?? (wait > 0 ? 0 : (config.period ?? 5)),
    beat: o.beat ?? (config.beat && config.beat > 0 ? config.beat : 5),
    lifetime: o.lifetime ?? config.lifetime ?? 0,
    siteEnv: config.env ?? {},
    reportNext: config.reportNext === true,
  };
}

function token(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  const given = flag ?? nonEmpty(env.P3S_TOKEN);
  if (given?.trim()) return given.trim();
  const file = join(resolve(env.P3S_HOME ?? '.p3s'), 'pilot.token');
  const fromFile = existsSync(file) ? readFileSync(file, 'utf8').trim() : '';
  if (!fromFile) throw new UsageError(`no pilot token: pass --token, set P3S_TOKEN, or create ${file}`);
  return fromFile;
}

/** The batch system's id of the slot we run in, so an operator can find the pilot's batch job. */
export function batchId(env: NodeJS.ProcessEnv): string | undefined {
  const direct = nonEmpty(env.P3S_EXTRA) ?? nonEmpty(env.SLURM_JOB_ID);
  if (direct) return direct;
  // HTCondor sets no id variable, but points at the job ad, which holds ClusterId and ProcId.
  const ad = env._CONDOR_JOB_AD;
  if (!ad || !existsSync(ad)) return undefined;
  const text = readFileSync(ad, 'utf8');
  const cluster = /^ClusterId\s*=\s*(\d+)\s*$/im.exec(text)?.[1];
  const proc = /^ProcId\s*=\s*(\d+)\s*$/im.exec(text)?.[1];
  return cluster !== undefined && proc !== undefined ? `${cluster}.${proc}` : undefined;
}

function num(
  name: string,
  raw: string | undefined,
  rule: { integer?: boolean; positive?: boolean } = {},
): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  const ok =
    raw.trim() !== '' &&
    Number.isFinite(n) &&
    (rule.positive ? n > 0 : n >= 0) &&
    (!rule.integer || Number.isInteger(n));
  if (!ok) {
    const what = `${rule.positive ? 'a positive' : 'a non-negative'} ${rule.integer ? 'integer' : 'number'}`;
    throw new UsageError(`--${name} must be ${what}, not '${raw}'`);
  }
  return n;
}

function list(raw: string): string[] {
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function nonEmpty(s: string | undefined): string | undefined {
  return s?.trim() ? s : undefined;
}

function optionalPath(p: string | undefined): string | undefined {
  return p === undefined ? undefined : resolve(p);
}
