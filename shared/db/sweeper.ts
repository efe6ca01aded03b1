import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { config, tableName } from '../config.ts';
import type { JobState } from '../core/job/job.ts';
import { jobtypeEntity, jobtypeOfEntity } from '../core/stats/job-events.ts';
import { log } from '../log.ts';
import { resumeAbandoned } from './arrival.ts';
import { db } from './client.ts';
import { isConditionFailed } from './conditions.ts';
import { matchRound } from './dispatch.ts';
import { jobsInState } from './job-transitions.ts';
import { inFlightCounters, recountInFlight } from './jobtypes.ts';
import { correctCounter, counters } from './stats.ts';
import { advanceWorkflow } from './workflow-runner.ts';
import { openWorkflows } from './workflow-store.ts';

/**
 * The sweeper (docs/matching.md "The sweeper"): repairs what a lost stream batch or a crash
 * part-way through a multi-step change leaves behind, from the tables' own truth.
 *
 * 1. Workflows in progress (the sparse `open` index) get one advance step each: children of
 *    finished parents released, children of failed or cancelled parents cancelled, a workflow
 *    whose jobs have all ended moved to its end state — what the `jobEvents` stream function
 *    would have done had its batch not been dropped. Advancing is idempotent.
 * 2. Files still `new` past `P3S_DATA_RECLAIM_AFTER` (the sparse `pending` index) are taken
 *    over and their outstanding rules run once (shared/db/arrival.ts `resumeAbandoned`).
 * 3. Each job type's `inFlight` is recounted from the jobs dispatched or running (`byState`
 *    index), and written only if no claim or end changed it meanwhile (jobtypes.ts
 *    `recountInFlight`).
 * 4. The live stats counters (`defined`, `dispatched`, `running`, global and per type) are
 *    corrected once a difference from the jobs table has stayed the same for
 *    `P3S_COUNTER_SETTLE` (then no stream batch can still be in transit).
 *
 * It reads only what can be stuck — in-progress workflows, files being registered, jobs in live
 * states — never the history, and at most a bounded page of each per run.
 */

/** Workflows advanced per sweep; the next sweep continues after the last one (round robin). */
const WORKFLOWS_PER_SWEEP = 100;
/** Abandoned files taken over per sweep. */
const FILES_PER_SWEEP = 25;
/** Queued (`defined`) jobs counted per sweep at most; a longer queue's counters wait for a shorter one. */
const MAX_QUEUED_COUNTED = 10_000;

export interface SweepReport {
  /** Open workflows given an advance step, and those where the step changed something. */
  workflowsChecked: number;
  workflowsRepaired: number;
  /** Jobs the workflow steps released, cancelled or finished (noops). */
  jobsReleased: number;
  jobsCancelled: number;
  jobsFinished: number;
  /** Files whose abandoned registration was finished. */
  filesResumed: number;
  /**
   * Job types whose `inFlight` was recounted; and those whose count differed but that changed
   * while being counted (a claim or an end: maybe no drift at all), left for the next sweep.
   */
  inFlightFixed: number;
  inFlightBusy: number;
  /** Stats counters corrected. */
  countersFixed: number;
  /** False when the queue was longer than MAX_QUEUED_COUNTED: its counters were not checked. */
  queueCounted: boolean;
  /** Workflows or files whose repair failed (logged; tried again at the next sweep). */
  errors: number;
}

/** A counter's difference from the table, as last seen: truth, counter, since when (ms). */
type Seen = [truth: number, counter: number, sinceMs: number];

/** What one sweep leaves for the next, in the stats table (`sweep` / `state`). */
interface SweepState {
  /** When the last sweep started (ms): the lease of `sweepIfDue`. */
  at?: number;
  /** Where the next sweep continues in the `open` index. */
  cursor?: Record<string, unknown>;
  /** Counters found different from the table, by stats key. */
  diffs?: Record<string, Seen>;
}

const stateKey = { pk: 'sweep', sk: 'state' };

/** The last time this container swept (ms): spares the lease request on most reaper runs. */
let lastHereMs = 0;

/**
 * Runs a sweep when `P3S_SWEEP_INTERVAL` has passed since the last one (anywhere: a conditional
 * write on the sweep state is the lease, so two reapers never sweep at once). Called at the end
 * of every reaper run; returns undefined when no sweep was due.
 */
export async function sweepIfDue(nowMs = Date.now()): Promise<SweepReport | undefined> {
  // 90 %: the schedule's own jitter must not make a sweep due only every second run.
  const due = config().P3S_SWEEP_INTERVAL * 900;
  if (nowMs - lastHereMs < due) return undefined;
  // `nowMs` is the caller's clock (tests move it); the sweep goes on from it at the real pace.
  const offsetMs = nowMs - Date.now();
  let prev: SweepState;
  try {
    const r = await db().send(
      new UpdateCommand({
        TableName: tableName('stats'),
        Key: stateKey,
        UpdateExpression: 'SET #at = :now',
        ConditionExpression: 'attribute_not_exists(#at) OR #at <= :due',
        ExpressionAttributeNames: { '#at': 'at' },
        ExpressionAttributeValues: { ':now': nowMs, ':due': nowMs - due },
        ReturnValues: 'ALL_OLD',
      }),
    );
    prev = (r.Attributes ?? {}) as SweepState;
  } catch (err) {
    if (!isConditionFailed(err)) throw err;
    lastHereMs = nowMs; // swept elsewhere (or paused): ask again an interval from now
    return undefined;
  }
  lastHereMs = nowMs;
  // Now, not when the lease was asked for: the sweep times counter differences by this clock.
  return sweep(Date.now() + offsetMs, prev);
}

/**
 * One sweep (see the module comment). `prev` is what the previous sweep left (read when not
 * given). Every repair is conditional on the state it read, so a sweep racing the stream
 * functions, a registration or another sweep changes nothing twice.
 */
export async function sweep(nowMs = Date.now(), prev?: SweepState): Promise<SweepReport> {
  // The sweep's clock (`nowMs` may be moved by tests) advanced by the time the sweep has taken.
  const startedMs = Date.now();
  const clock = () => nowMs + (Date.now() - startedMs);
  const state = prev ?? (await readState());
  const rep: SweepReport = {
    workflowsChecked: 0,
    workflowsRepaired: 0,
    jobsReleased: 0,
    jobsCancelled: 0,
    jobsFinished: 0,
    filesResumed: 0,
    inFlightFixed: 0,
    inFlightBusy: 0,
    countersFixed: 0,
    queueCounted: true,
    errors: 0,
  };
  // The recount runs beside the other repairs: its window between reading the counters and
  // writing them (the index lag, a few queries) stays short, whatever the rest takes.
  const [cursor, live] = await Promise.all([
    (async () => {
      const next = await sweepWorkflows(state.cursor, rep);
      const files = await resumeAbandoned(nowMs, FILES_PER_SWEEP);
      rep.filesResumed = files.resumed;
      rep.errors += files.failed;
      return next;
    })(),
    recountAll(rep),
  ]);
  const diffs = await fixCounters(live, state.diffs ?? {}, clock, rep);
  // Nothing new to remember (an idle system): no write.
  if (JSON.stringify([cursor, diffs]) !== JSON.stringify([state.cursor, state.diffs ?? {}]))
    await writeState(cursor, diffs);
  if (rep.workflowsRepaired || rep.filesResumed || rep.inFlightFixed || rep.countersFixed || rep.errors)
    log.warn('sweeper repaired', { ...rep });
  return rep;
}

async function readState(): Promise<SweepState> {
  const r = await db().send(new GetCommand({ TableName: tableName('stats'), Key: stateKey }));
  return (r.Item ?? {}) as SweepState;
}

async function writeState(cursor: Record<string, unknown> | undefined, diffs: Record<string, Seen>) {
  const values: Record<string, unknown> = { ':d': diffs };
  let expr = 'SET diffs = :d';
  if (cursor) {
    expr += ', #c = :c';
    values[':c'] = cursor;
  } else expr += ' REMOVE #c';
  await db().send(
    new UpdateCommand({
      TableName: tableName('stats'),
      Key: stateKey,
      UpdateExpression: expr,
      ExpressionAttributeNames: { '#c': 'cursor' },
      ExpressionAttributeValues: values,
    }),
  );
}

/** One page of open workflows, one advance step each (four at a time). Returns the next cursor. */
async function sweepWorkflows(
  after: Record<string, unknown> | undefined,
  rep: SweepReport,
): Promise<Record<string, unknown> | undefined> {
  const page = await openWorkflows(WORKFLOWS_PER_SWEEP, after);
  let next = 0;
  const worker = async () => {
    while (next < page.ids.length) {
      const id = page.ids[next++]!;
      // One workflow that cannot be advanced (logged) must not keep the others stuck.
      const r = await advanceWorkflow(id).catch((err) => {
        rep.errors++;
        log.error('sweeper: workflow not advanced', { workflow: id, err: String(err) });
        return undefined;
      });
      rep.workflowsChecked++;
      if (!r) continue;
      const n = r.defined.length + r.cancelled.length + r.finished.length;
      if (!n) continue;
      rep.workflowsRepaired++;
      rep.jobsReleased += r.defined.length;
      rep.jobsCancelled += r.cancelled.length;
      rep.jobsFinished += r.finished.length;
    }
  };
  await Promise.all(Array.from({ length: Math.min(4, page.ids.length) }, worker));
  return page.next;
}

/** Jobs per (state, job type) in the live states; `defined` is absent when over the budget. */
type LiveCounts = Map<JobState, Map<string, number>>;

/**
 * Recounts every job type's `inFlight`. The counters are read first; after the index lag (so
 * every claim and end they reflect is visible in the `byState` index) the dispatched jobs are
 * listed, and after the lag once more the running ones: a job that started in between is then
 * seen in one list or both (counted once, by id), never in neither, even when the index's two
 * partitions trail the table by different amounts. A type whose count differs is corrected only
 * if its op counter and value are still the ones read (recountInFlight): then no claim or end
 * happened between the readings, and the count is exact. Returns the live counts (for the
 * stats counters).
 */
async function recountAll(rep: SweepReport): Promise<LiveCounts> {
  const seen = await inFlightCounters();
  const lag = config().P3S_INDEX_LAG_MS;
  const pause = () => (lag > 0 ? new Promise((r) => setTimeout(r, lag)) : Promise.resolve());
  await pause();
  const dispatched = (await liveJobs('dispatched'))!;
  await pause();
  const running = (await liveJobs('running'))!;
  for (const id of running.keys()) dispatched.delete(id);
  const queued = await liveJobs('defined', MAX_QUEUED_COUNTED);
  if (!queued) rep.queueCounted = false;

  const live: LiveCounts = new Map();
  const inFlight = new Map<string, number>();
  for (const [state, jobs] of [
    ['dispatched', dispatched],
    ['running', running],
    ['defined', queued],
  ] as const) {
    if (!jobs) continue;
    const byType = new Map<string, number>();
    for (const j of jobs.values()) {
      byType.set(j.jobtype, (byType.get(j.jobtype) ?? 0) + 1);
      // `inFlight` counts the jobs whose claim took a slot of the cap (uncapped types: none).
      if (state !== 'defined' && j.counted) inFlight.set(j.jobtype, (inFlight.get(j.jobtype) ?? 0) + 1);
    }
    live.set(state, byType);
  }
  let freed = false;
  for (const t of seen) {
    const count = inFlight.get(t.name) ?? 0;
    if ((t.inFlight ?? 0) === count) continue;
    if (await recountInFlight(t, count)) {
      rep.inFlightFixed++;
      freed ||= count < (t.inFlight ?? 0);
      log.warn('job type inFlight recounted', { jobtype: t.name, was: t.inFlight, now: count });
    } else rep.inFlightBusy++;
  }
  // Slots freed by a recount wake no stream function (no job changed): match now rather than at
  // the next reaper run or poll.
  if (freed) await matchRound();
  return live;
}

/**
 * The jobs in `state` (id → job type, counted) through the `byState` index: eventually
 * consistent reads of three attributes. Undefined when more than `budget` jobs are in that state.
 */
async function liveJobs(
  state: JobState,
  budget?: number,
): Promise<Map<string, { jobtype: string; counted: boolean }> | undefined> {
  const { items } = await jobsInState(state, {
    attributes: ['id', 'jobtype', 'counted'],
    limit: budget === undefined ? undefined : budget + 1,
  });
  if (budget !== undefined && items.length > budget) return undefined;
  return new Map(items.map((it) => [it.id, { jobtype: it.jobtype, counted: it.counted === true }]));
}

/**
 * Corrects the live per-state counters (`jobs#<state>`, `jobtype#<type>#<state>`) from the
 * counts. The jobs stream updates them a batch at a time, so a difference is normal while a
 * batch is in transit: a counter is corrected only once the same difference (same count, same
 * counter value) has been seen for `P3S_COUNTER_SETTLE`, and only if the counter still holds
 * the value seen (correctCounter). Returns the differences still waiting.
 */
async function fixCounters(
  live: LiveCounts,
  prev: Record<string, Seen>,
  clock: () => number,
  rep: SweepReport,
): Promise<Record<string, Seen>> {
  const settleMs = config().P3S_COUNTER_SETTLE * 1000;
  const c = await counters();
  // A difference is seen when the counters are read, not when the sweep began: a slow sweep
  // (its reads before this one take seconds on a loaded machine) must not shorten the settle.
  const seenMs = clock();
  const truth = new Map<string, number>();
  const held = new Map<string, number>();
  for (const [state, byType] of live) {
    let total = 0;
    for (const [type, n] of byType) {
      truth.set(`${jobtypeEntity(type)}#${state}`, n);
      total += n;
    }
    truth.set(`jobs#${state}`, total);
  }
  for (const [entity, states] of Object.entries(c)) {
    if (entity !== 'jobs' && jobtypeOfEntity(entity) === undefined) continue;
    for (const [state, n] of Object.entries(states))
      if (live.has(state as JobState)) held.set(`${entity}#${state}`, n);
  }
  const out: Record<string, Seen> = {};
  for (const key of new Set([...truth.keys(), ...held.keys()])) {
    const t = truth.get(key) ?? 0;
    const n = held.get(key) ?? 0;
    if (t === n) continue;
    const before = prev[key];
    const same = before && before[0] === t && before[1] === n;
    if (same && seenMs - before[2] >= settleMs) {
      if (await correctCounter(key, n, t - n)) {
        rep.countersFixed++;
        log.warn('stats counter corrected', { counter: key, was: n, now: t });
        continue;
      }
    }
    out[key] = same ? before : [t, n, seenMs];
  }
  return out;
}
