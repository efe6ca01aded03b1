import { z } from 'zod';

/** Job states (DESIGN §3). Terminal states are final: there is no retry. */
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
export const MAX_ENV_KEYS = 100;
export const MAX_ENV_BYTES = 16 * 1024;
export const MAX_JOBS_PER_SUBMIT = 500;

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

export const Name = z.string().trim().min(1).max(256);
export const JobtypeName = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1–64 characters of letters, digits, _ . -');
export const SiteName = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1–64 characters of letters, digits, _ . -');
export const EnvKey = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'not a valid environment variable name');

/** Job environment: string values (numbers and booleans are stringified, as the shell would see them). */
export const Env = z
  .record(EnvKey, z.union([z.string().max(4096), z.number(), z.boolean()]).transform(String))
  .refine((e) => Object.keys(e).length <= MAX_ENV_KEYS, `at most ${MAX_ENV_KEYS} variables`)
  .refine((e) => Buffer.byteLength(JSON.stringify(e)) <= MAX_ENV_BYTES, `at most ${MAX_ENV_BYTES} bytes`);

/**
 * One job as submitted, in the original p3s job JSON (`name, timeout, jobtype, payload,
 * priority, state, env`) plus `site`, `user`, `timelimit`. `env` may arrive as a JSON string,
 * as the original client sent it. Unknown keys are rejected so typos are not silently ignored;
 * the original's ignored keys (`uuid`, `ts`, `subhost`, `params`) are accepted and dropped.
 */
export const JobSubmission = z
  .strictObject({
    name: Name.optional(),
    jobtype: JobtypeName.default('default'),
    payload: z.string().min(1).max(4096).default('/bin/true'),
    priority: intLike(PRIORITY_MIN, PRIORITY_MAX).optional(),
    timeout: intLike(1, 30 * 86400).optional(),
    timelimit: intLike(1, 30 * 86400).optional(),
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

/** A job as the API returns it (DESIGN §9): stable field names, ISO-8601 UTC timestamps. */
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
  killRequested?: boolean;
  workflowId?: string;
  vertex?: string;
  inputFile?: string;
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

/** Queue partition: jobs that need a site queue under it; the rest under `*`. */
export function queuePartition(site: string | undefined): string {
  return `Q#${site ?? '*'}`;
}

/** Final state of a job from its payload's exit. */
export function stateFromExit(exitCode: number | null | undefined, signal: string | undefined): JobState {
  return exitCode === 0 && !signal ? 'finished' : 'failed';
}
