import { z } from 'zod';

/** Job states (docs/design.md §3). Terminal states are final: there is no retry. */
export const JobState = z.enum([
  'template',
  'defined',
  'dispatched',
  'running',
  'finished',
  'failed',
  'timelimit',
  'pilotTO',
  'stale',
  'dropped',
  'killed',
  'cancelled',
  'nonstarter',
]);
export type JobState = z.infer<typeof JobState>;

export const TERMINAL: ReadonlySet<JobState> = new Set([
  'finished',
  'failed',
  'timelimit',
  'pilotTO',
  'stale',
  'dropped',
  'killed',
  'cancelled',
  'nonstarter',
]);
/** States that hold a slot of the job type's cap. */
export const IN_FLIGHT: ReadonlySet<JobState> = new Set(['dispatched', 'running']);

export const isTerminal = (s: JobState) => TERMINAL.has(s);

export const PRIORITY_MIN = -1_000_000_000;
export const PRIORITY_MAX = 1_000_000_000;
const MAX_ENV_KEYS = 100;
const MAX_ENV_BYTES = 16 * 1024;
export const MAX_JOBS_PER_SUBMIT = 500;
/**
 * Longest time limit, in seconds: a year. Real job files go far beyond a month (the original's
 * `larsoft/purity/purity_data_reco.json` has `"timeout": "5000000"`, 58 days).
 */
export const MAX_TIMELIMIT = 366 * 86400;

/** Accepts a number or a numeric string (the original clients sent form-encoded strings). */
const intLike = (min: number, max: number) =>
  z
    .union([
      z.number(),
      z
        .string()
        .trim()
        .regex(/^[+-]?\d+$/, 'must be an integer'),
    ])
    .transform((v) => Number(v))
    .pipe(z.number().int('must be an integer').min(min).max(max));

const JOBTYPE_RULE = {
  re: /^[A-Za-z0-9_.-]{1,64}$/,
  message: 'must be 1–64 characters of letters, digits, _ . -',
};
export const JobtypeName = z.string().trim().regex(JOBTYPE_RULE.re, JOBTYPE_RULE.message);
export const SiteName = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1–64 characters of letters, digits, _ . -');
const EnvKey = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'not a valid environment variable name');

/** Job environment: string values (numbers and booleans are stringified, as the shell would see them). */
export const Env = z
  .record(EnvKey, z.union([z.string().max(4096), z.number(), z.boolean()]).transform(String))
  .refine((e) => Object.keys(e).length <= MAX_ENV_KEYS, `at most ${MAX_ENV_KEYS} variables`)
  .refine((e) => Buffer.byteLength(JSON.stringify(e)) <= MAX_ENV_BYTES, `at most ${MAX_ENV_BYTES} bytes`);

/** zod's error for a string field: a missing one says it is required and what it is for. */
const requiredString = (what: string) =>
  z.string({
    error: (iss) => (iss.input === undefined || iss.input === null ? `is required (${what})` : undefined),
  });

/**
 * One job as submitted, in the original p3s job JSON (`name, timeout, jobtype, payload,
 * priority, state, env`) plus `site`, `user`, `timelimit`. `payload`, `jobtype` and `name` are
 * required, as the original server required them (its client filled in defaults that turned a
 * forgotten payload into a `/bin/true` job). `env` may arrive as a JSON string, as the original
 * client sent it. Unknown keys are rejected so typos are not silently ignored; the original's
 * ignored keys (`uuid`, `ts`, `subhost`, `params`) are accepted and dropped.
 */
export const JobSubmission = z
  .strictObject({
    // Checked in this order, so the first problem named is the one that matters most.
    payload: requiredString('the program or shell command a pilot runs')
      .max(4096)
      .refine((p) => p.trim() !== '', 'must not be empty'),
    jobtype: requiredString('caps, priorities and sampling are per job type, e.g. "monitor"')
      .trim()
      .regex(JOBTYPE_RULE.re, JOBTYPE_RULE.message),
    name: requiredString('a label for people, e.g. "hitmonitor"').trim().min(1).max(256),
    priority: intLike(PRIORITY_MIN, PRIORITY_MAX).optional(),
    timeout: intLike(1, MAX_TIMELIMIT).optional(),
    timelimit: intLike(1, MAX_TIMELIMIT).optional(),
    state: z.enum(['defined', 'held']).default('defined'),
    env: z
      .union([
        z.string().transform((s, ctx) => {
          try {
            return JSON.parse(s) as unknown;
          } catch {
            ctx.addIssue({ code: 'custom', message: 'env is a string but not JSON' });
            return z.NEVER;
          }
        }),
        z.record(z.string(), z.unknown()),
      ])
      .pipe(Env)
      .default({}),
    site: SiteName.optional(),
    user: z.string().trim().min(1).max(64).optional(),
    uuid: z.string().max(64).optional(),
    ts: z.unknown().optional(),
    subhost: z.unknown().optional(),
    params: z.unknown().optional(),
  })
  .transform(({ uuid: _u, ts: _t, subhost: _s, params: _p, timeout, timelimit, ...j }) => ({
    ...j,
    timelimit: timelimit ?? timeout ?? 1000,
  }));
export type JobSubmission = z.output<typeof JobSubmission>;

/** A job as the API returns it (docs/design.md §9): stable field names, ISO-8601 UTC timestamps. */
export interface Job {
  id: string;
  name: string;
  jobtype: string;
  payload: string;
  env: Record<string, string>;
  priority: number;
  timelimit: number;
  state: JobState;
  held?: boolean;
  site?: string;
  user?: string;
  pilotId?: string;
  host?: string;
  exitCode?: number | null;
  signal?: string;
  message?: string;
  stdoutTail?: string;
  stderrTail?: string;
  /** When the tails were last updated by a heartbeat (while the job ran). */
  tailAt?: string;
  /** Set when a dispatched job that never started was put back in the queue (once at most). */
  requeuedAt?: string;
  /** The pilot it was taken back from. */
  requeuedFrom?: string;
  /** The payload's pid (on its pilot's host), as the pilot reported it. */
  pid?: number;
  killRequested?: boolean;
  workflowId?: string;
  vertex?: string;
  inputFile?: string;
  /** For a job a trigger rule made: the file (data id) that arrived and the rule's name. */
  dataId?: string;
  rule?: string;
  createdAt: string;
  definedAt?: string;
  dispatchedAt?: string;
  startedAt?: string;
  payloadStartedAt?: string;
  endedAt?: string;
  stateAt: string;
}

/**
 * Sort key of the queue index: priority descending, then definition time ascending (FIFO
 * within a priority), then the position in its submission (jobs submitted together share a
 * timestamp), then id. Priorities are unbounded integers within ±1e9; 1e9 − p is 0…2e9,
 * zero-padded to 10 digits so string order is numeric order.
 */
export function queueSortKey(priority: number, definedAt: string, seq: number, id: string): string {
  return `${String(PRIORITY_MAX - priority).padStart(10, '0')}#${definedAt}#${String(seq).padStart(5, '0')}#${id}`;
}

/**
 * Queue partition (docs/matching.md, "The queue"). Jobs of types without their own queue share
 * `Q#*` (or `Q#<site>` when they require a site). A type that has ever had a cap queues in
 * partitions of its own, `QT#<type>#*` / `QT#<type>#<site>`, so that while it is at its cap its
 * jobs are simply not read: they can never hide runnable work of other types, and the cost of a
 * poll or a matching round does not grow with the number of capped jobs queued. Type and site
 * names cannot contain `#`, so the keys are unambiguous.
 */
export function queuePartition(site: string | undefined, ownQueueType?: string): string {
  return ownQueueType ? `QT#${ownQueueType}#${site ?? '*'}` : `Q#${site ?? '*'}`;
}

/** Final state of a job from its payload's exit. */
export function stateFromExit(exitCode: number | null | undefined, signal: string | undefined): JobState {
  return exitCode === 0 && !signal ? 'finished' : 'failed';
}
