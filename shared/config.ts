import { z } from 'zod';

/**
 * Every environment variable p3s reads, parsed once. `process.env` appears nowhere else
 * in functions/ and shared/ (the CLI and pilot have their own option parsing).
 */
const seconds = (def: number) => z.coerce.number().nonnegative().default(def);

export const Config = z.object({
  /** Prefix of every DynamoDB table name: `<prefix>-jobs`, `<prefix>-pilots`, … */
  P3S_TABLE_PREFIX: z.string().min(1).default('p3s-local'),
  /** DynamoDB endpoint (DynamoDB Local); unset on AWS. */
  P3S_DYNAMODB_ENDPOINT: z.string().url().optional(),
  AWS_REGION: z.string().default('us-east-1'),
  /** Seconds without a heartbeat before a pilot is `timeout` and its job `pilotTO`. */
  P3S_HEARTBEAT_TIMEOUT: seconds(60),
  /** Seconds a dispatched job may wait for its pilot's `jobstart` before it is `pilotTO`. */
  P3S_DISPATCH_GRACE: seconds(30),
  /**
   * Seconds between reaper runs (the schedule's rate: every minute on AWS; the local stack sets
   * it from its own cadence). A gap of three intervals between runs means the service was down.
   */
  P3S_REAPER_INTERVAL: seconds(60),
  /**
   * The API's base URL (set by serverless.yml on AWS): the reaper probes its /healthz and times
   * no pilot out while it does not answer. Unset on the local stack, where the reaper runs inside
   * the API's process.
   */
  P3S_API_URL: z.string().url().optional(),
  /** Seconds past a running job's time limit before the reaper ends it as `timelimit`. */
  P3S_TIMELIMIT_GRACE: seconds(30),
  /** Longest a pilot poll is held open, in seconds (API Gateway allows 30). */
  P3S_LONGPOLL_MAX: seconds(20),
  /** How often a held poll re-reads its pilot where no in-process wake-up exists (Lambda), ms. */
  P3S_LONGPOLL_CHECK_MS: z.coerce.number().int().positive().default(250),
  /**
   * How idle pilots wait for work (docs/cost-model.md, "Idle pilots"): `long` — a poll is held
   * until a job comes or P3S_LONGPOLL_MAX passes (the local stack's default: holding a request
   * costs nothing there); `paced` — a poll answers at once and tells the pilot when to come back
   * (`retryAfter`), so that all idle pilots together poll P3S_IDLE_POLLS_PER_S times a second
   * whatever their number (AWS: no Lambda is held, the cost does not grow with idle pilots).
   */
  P3S_POLL_MODE: z.enum(['long', 'paced']).default('long'),
  /** Paced mode: the idle pilots' polls per second, all together (a new job waits ≈ 1/(2R)). */
  P3S_IDLE_POLLS_PER_S: z.coerce.number().positive().default(2),
  /**
   * Paced mode: bounds of the mean `retryAfter`, seconds (each pilot's is jittered ×[0.5, 1.5)).
   * The upper bound is also how late an idle pilot may learn of a drain or a kill: it sends no
   * heartbeat while it waits for its next poll.
   */
  P3S_POLL_PACE_MIN: seconds(0.5),
  P3S_POLL_PACE_MAX: seconds(120),
  /** Days a terminal job, stopped pilot or processed file is kept before TTL purge. */
  P3S_RETENTION_DAYS: z.coerce.number().positive().default(7),
  /**
   * Least time between two runs of the sweeper (shared/db/sweeper.ts, docs/matching.md "The
   * sweeper"), seconds. The reaper calls it at the end of a run once this much has passed since
   * the last sweep (a lease in the stats table: one sweep at a time, whatever runs the reaper).
   */
  P3S_SWEEP_INTERVAL: seconds(60),
  /**
   * How long the sweeper waits between reading the job types' counters and counting in-flight
   * jobs through the `byState` index, ms: the index trails its table (about a second on AWS).
   */
  P3S_INDEX_LAG_MS: z.coerce.number().int().nonnegative().default(1000),
  /**
   * Seconds a difference between a live stats counter and the jobs table must stay unchanged
   * before the sweeper corrects the counter: longer than a stream batch can be in transit
   * (the jobs stream's function may time out, 30 s, and be retried twice).
   */
  P3S_COUNTER_SETTLE: seconds(120),
  /**
   * Seconds a file may stay `new` before its registration counts as dead and the sweeper (or a
   * new announcement) runs its outstanding rules (above any Lambda timeout here, 30 s).
   */
  P3S_DATA_RECLAIM_AFTER: seconds(60),
  /** Heartbeat period suggested to pilots, seconds. */
  P3S_PILOT_BEAT: seconds(5),
  /** S3 buckets whose ObjectCreated events register data, comma separated (set by serverless.yml); empty = any. */
  P3S_DATA_BUCKETS: z.string().default(''),
  /**
   * Most index items one listing request may read (filtered listings of jobs, data, workflows):
   * a page that reaches it ends early with a cursor and `searchedBackTo`. Never below the page size.
   */
  P3S_LIST_READ_BUDGET: z.coerce.number().int().positive().default(2000),
  /**
   * Failed authentications one source address may make in a burst, per container (a token
   * bucket): past it, requests from that address whose token this container has not verified
   * before get a 429 without touching the tokens table. 0 turns the limit off.
   */
  P3S_AUTH_FAIL_BURST: z.coerce.number().int().nonnegative().default(50),
  /** Failed authentications per minute the bucket above refills (the sustained rate allowed). */
  P3S_AUTH_FAIL_PER_MIN: z.coerce.number().positive().default(60),
  /**
   * Token ids each container remembers, known and unknown apart (two LRU caches of this size):
   * at most this many tokens in use are verified without a read of the tokens table.
   */
  P3S_TOKEN_CACHE_ENTRIES: z.coerce.number().int().positive().default(10_000),
  /** Stage name, for logs. */
  P3S_STAGE: z.string().default('local'),
  /** Log level of the server side. */
  P3S_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
});
export type Config = z.infer<typeof Config>;

let cached: Config | undefined;

/** The parsed configuration; read from the environment on first use and then kept. */
export function config(): Config {
  cached ??= Config.parse(process.env);
  return cached;
}

/** Table names derived from the prefix; one place, so functions, scripts and the local stack agree. */
export function tableName(entity: TableEntity): string {
  return `${config().P3S_TABLE_PREFIX}-${entity}`;
}

const TABLE_ENTITIES = [
  'jobs',
  'pilots',
  'jobtypes',
  'tokens',
  'stats',
  'sites',
  'data',
  'datatypes',
  'rules',
  'dags',
  'workflows',
] as const;
export type TableEntity = (typeof TABLE_ENTITIES)[number];
