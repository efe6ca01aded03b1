/**
 * Every change of a job's state, in one place: release (template → defined), hold, release from
 * hold and re-prioritise, claim (defined → dispatched), start, the end in any terminal state
 * (with the cap slot and the pilot in the same transaction), take-back of a job that never
 * started, kill, and the moves between queue partitions; plus the one query of jobs by state.
 * Each change is a conditional write on the state it leaves, so two actors can never both win a
 * transition (docs/design.md §3, docs/matching.md). Where does a job end? `endJob`, below.
 *
 * Creating, reading, listing and deleting jobs is shared/db/jobs.ts; choosing which job goes to
 * which pilot is shared/db/dispatch.ts.
 */
import { QueryCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { tableName } from '../config.ts';
import { ConflictError, NotFoundError } from '../core/errors.ts';
import {
  IN_FLIGHT,
  isTerminal,
  type Job,
  type JobState,
  queuePartition,
  queueSortKey,
} from '../core/job/job.ts';
import type { Jobtype, JobtypeSettings } from '../core/jobtype/jobtype.ts';
import { Lru } from '../core/util/lru.ts';
import { nowIso } from '../core/util/time.ts';
import { log } from '../log.ts';
import { pilotKey, wakeups } from '../wakeups.ts';
import { db } from './client.ts';
import { cancellationCodes, isConditionFailed } from './conditions.ts';
import { toJob } from './items.ts';
import { endedTtl, getJobItem, type JobRecord, parseJob } from './jobs.ts';
import { clearMigrating, noteSlotFreed, partitionOf, setJobtype } from './jobtypes.ts';
import { pilotAfterJob, requestJobKill, type TransactItem } from './pilots.ts';

const jobs = () => tableName('jobs');
const jobtypes = () => tableName('jobtypes');
const pilots = () => tableName('pilots');

/** What this container handed to pilots: pilot → its job (set by the claim, cleared by the end). */
const assignments = new Lru<string, { jobId: string; jobtype: string; counted: boolean }>(20_000);

/**
 * The job this container handed to `pilotId`, if it is `jobId`: the end of that job then needs no
 * read of the pilot (its conditional writes check the rest, and a miss falls back to reading it).
 */
export function assignmentOf(pilotId: string, jobId: string) {
  const a = assignments.get(pilotId);
  return a?.jobId === jobId ? a : undefined;
}

/** A job as the transitions read it (shared/db/jobs.ts JobRecord, parsed at the boundary). */
export type JobItem = JobRecord;

/** Options of `jobsInState`. */
export interface InStateQuery {
  /** Only jobs that entered the state before this time (ISO). */
  before?: string;
  /** Newest first (default: oldest first). */
  newestFirst?: boolean;
  /** Only jobs of this type; only queued jobs (not held); only jobs outside workflows. */
  jobtype?: string;
  queuedOnly?: boolean;
  notInWorkflow?: boolean;
  /** In the shared queue partitions (a capped type's jobs not yet moved to its own). */
  inSharedQueue?: boolean;
  /** Attributes to read (default: what the index holds). */
  attributes?: string[];
  /** Stop after this many items (one page when `startKey`/`onePage` is used). */
  limit?: number;
  startKey?: Record<string, unknown>;
  /** Return after the first page (with its `next` key) instead of reading on. */
  onePage?: boolean;
}

/**
 * The one query of jobs by state (the `byState` index, ordered by the time the job entered the
 * state). Eventually consistent on AWS (≈ 1 s behind the table): callers act on what they read
 * only through conditional writes.
 */
export async function jobsInState(
  state: JobState,
  q: InStateQuery = {},
): Promise<{ items: JobItem[]; next?: Record<string, unknown>; scanned: number }> {
  const names: Record<string, string> = { '#s': 'state' };
  const values: Record<string, unknown> = { ':s': state };
  let key = '#s = :s';
  if (q.before) {
    key += ' AND stateAt < :t';
    values[':t'] = q.before;
  }
  const filters: string[] = [];
  if (q.jobtype) {
    filters.push('jobtype = :jt');
    values[':jt'] = q.jobtype;
  }
  if (q.queuedOnly) filters.push('attribute_exists(qpk)');
  if (q.notInWorkflow) filters.push('attribute_not_exists(workflowId)');
  if (q.inSharedQueue) {
    filters.push('begins_with(qpk, :shared)');
    values[':shared'] = queuePartition(undefined).slice(0, 2); // `Q#`
  }
  let projection: string | undefined;
  if (q.attributes) {
    // Every JobRecord names its id and type.
    projection = [...new Set(['id', 'jobtype', ...q.attributes])]
      .map((a) => {
        names[`#a_${a}`] = a;
        return `#a_${a}`;
      })
      .join(', ');
  }
  const items: JobItem[] = [];
  let scanned = 0;
  let start = q.startKey;
  do {
    const r = await db().send(
      new QueryCommand({
        TableName: jobs(),
        IndexName: 'byState',
        KeyConditionExpression: key,
        FilterExpression: filters.length ? filters.join(' AND ') : undefined,
        ProjectionExpression: projection,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
        ScanIndexForward: !q.newestFirst,
        Limit: q.limit !== undefined ? Math.max(1, q.limit - items.length) : undefined,
        ExclusiveStartKey: start,
      }),
    );
    // A projected read may leave `state` out: it is the one asked for.
    items.push(...(r.Items ?? []).map((it) => parseJob({ state, ...it })));
    scanned += r.ScannedCount ?? 0;
    start = r.LastEvaluatedKey;
    if (q.onePage) return { items, next: start, scanned };
    if (q.limit !== undefined && items.length >= q.limit) return { items, next: start, scanned };
  } while (start);
  return { items, scanned };
}

export type ClaimResult =
  | { ok: true; job: Job }
  | { ok: false; reason: 'job' | 'cap' | 'pilot' | 'conflict' };

/**
 * The claim: one transaction moves the job `defined → dispatched` and the pilot to `dispatched`;
 * for a job of a capped type (`counted`) it also adds one to the type's in-flight counter under
 * `inFlight < limit`. So a job can never be dispatched twice and a cap can never be exceeded, by
 * construction (docs/matching.md). Types without a cap stay off the counter: no write of the
 * type's item, no hot key (docs/cost-model.md, "Uncapped types off the counter"). `counted`
 * comes from the caller's view of the type's limit, at most a second old; a cap set meanwhile is
 * safe: see `countInFlight`.
 *
 * `by`: `pilot` when the pilot's own poll claims (that request is its sign of life), `matchmaker`
 * when the server hands the job to an idle pilot — then the pilot must be holding a poll that is
 * still open (`holdUntil` in the future), and its liveness is not refreshed on its behalf.
 */
export async function claim(
  job: JobItem,
  pilot: { id: string; host: string; site?: string },
  by: 'pilot' | 'matchmaker',
  counted: boolean,
): Promise<ClaimResult> {
  const now = nowIso();
  const pilotValues: Record<string, unknown> = {
    ':disp': 'dispatched',
    ':jid': job.id,
    ':jt': job.jobtype,
    ':now': now,
    ':active': 'active',
    ':waiting': 'waiting',
  };
  let pilotCond =
    '#s IN (:active, :waiting) AND attribute_not_exists(jobId) AND attribute_not_exists(drain) AND attribute_not_exists(#k)';
  if (by === 'matchmaker') pilotCond += ' AND holdUntil > :now';
  const jobValues: Record<string, unknown> = {
    ':disp': 'dispatched',
    ':defined': 'defined',
    ':pid': pilot.id,
    ':host': pilot.host,
    ':now': now,
  };
  if (counted) {
    jobValues[':true'] = true;
    pilotValues[':true'] = true;
  }
  const items: TransactItem[] = [
    {
      Update: {
        TableName: jobs(),
        Key: { id: job.id },
        UpdateExpression: `SET #s = :disp, pilotId = :pid, host = :host, dispatchedAt = :now, stateAt = :now${counted ? ', counted = :true' : ''} REMOVE qpk, qsk`,
        // An uncounted claim never takes a job a cap's conversion marked `counted`.
        ConditionExpression: `#s = :defined AND attribute_exists(qpk)${counted ? '' : ' AND attribute_not_exists(counted)'}`,
        ExpressionAttributeNames: { '#s': 'state' },
        ExpressionAttributeValues: jobValues,
      },
    },
    {
      Update: {
        TableName: pilots(),
        Key: { id: pilot.id },
        // holdUntil stays: the reaper's record of when the pilot's poll was due to end. The
        // pilot item says whether the job is counted, so its end needs no read of the job.
        UpdateExpression: `SET #s = :disp, jobId = :jid, jobtype = :jt, stateAt = :now${by === 'pilot' ? ', lastSeenAt = :now' : ''}${counted ? ', counted = :true' : ''} REMOVE ipk, isk, idleSince${counted ? '' : ', counted'}`,
        ConditionExpression: pilotCond,
        ExpressionAttributeNames: { '#s': 'state', '#k': 'kill' },
        ExpressionAttributeValues: pilotValues,
      },
    },
  ];
  if (counted)
    items.push({
      Update: {
        TableName: jobtypes(),
        Key: { name: job.jobtype },
        // inFlightOps counts every change of inFlight: the sweeper's recount is conditioned on it.
        // While a cap's conversion counts the jobs already in flight, no counted claim succeeds.
        UpdateExpression: 'ADD inFlight :one, inFlightOps :one',
        ConditionExpression:
          'attribute_not_exists(converting) AND (attribute_not_exists(#limit) OR inFlight < #limit)',
        ExpressionAttributeNames: { '#limit': 'limit' },
        ExpressionAttributeValues: { ':one': 1 },
      },
    });
  try {
    await db().send(new TransactWriteCommand({ TransactItems: items }));
  } catch (err) {
    const codes = cancellationCodes(err);
    if (!codes.length) throw err;
    if (codes[0] === 'ConditionalCheckFailed') return { ok: false, reason: 'job' };
    if (codes[1] === 'ConditionalCheckFailed') return { ok: false, reason: 'pilot' };
    if (codes[2] === 'ConditionalCheckFailed') return { ok: false, reason: 'cap' };
    return { ok: false, reason: 'conflict' };
  }
  wakeups().notify(pilotKey(pilot.id));
  assignments.set(pilot.id, { jobId: job.id, jobtype: job.jobtype, counted });
  const item: Record<string, unknown> = {
    ...job,
    state: 'dispatched',
    pilotId: pilot.id,
    host: pilot.host,
    dispatchedAt: now,
    stateAt: now,
  };
  delete item.qpk;
  delete item.qsk;
  return { ok: true, job: toJob(item) };
}

/**
 * `jobstart`: dispatched → running, by the pilot it was given to. Idempotent. The pilot spawns
 * the payload only after this succeeded (docs/protocol.md), which is what makes a dispatched job
 * provably never-run (see takeBack). `pid` and `payloadStartedAt` arrive later, with a heartbeat
 * or the final report; older pilots send them here.
 */
export async function startJob(
  jobId: string,
  pilotId: string,
  info: { pid?: number; payloadStartedAt?: string },
): Promise<Job> {
  const now = nowIso();
  const values: Record<string, unknown> = {
    ':running': 'running',
    ':disp': 'dispatched',
    ':me': pilotId,
    ':now': now,
  };
  // `ranOn`: the pilot it ran on, keyed with `startedAt` in the byPilot index (set here, by one
  // plain update, rather than in the claim's transaction, where index writes cost double).
  let set = 'SET #s = :running, startedAt = :now, stateAt = :now, ranOn = :me';
  if (info.pid !== undefined) {
    set += ', pid = :pid';
    values[':pid'] = info.pid;
  }
  if (info.payloadStartedAt !== undefined) {
    set += ', payloadStartedAt = :ps';
    values[':ps'] = info.payloadStartedAt;
  }
  try {
    const r = await db().send(
      new UpdateCommand({
        TableName: jobs(),
        Key: { id: jobId },
        UpdateExpression: set,
        ConditionExpression: '#s = :disp AND pilotId = :me',
        ExpressionAttributeNames: { '#s': 'state' },
        ExpressionAttributeValues: values,
        ReturnValues: 'ALL_NEW',
      }),
    );
    // The pilot item is not written: its first heartbeat marks it running (touchPilot).
    return toJob(r.Attributes!);
  } catch (err) {
    if (!isConditionFailed(err)) throw err;
    const j = await getJobItem(jobId);
    if (!j) throw new NotFoundError('job', jobId);
    if (j.pilotId !== pilotId)
      throw new ConflictError(
        j.requeuedFrom === pilotId
          ? `job ${jobId} was taken back from pilot ${pilotId} before it started (jobstart came too late); do not start it`
          : `job ${jobId} is not assigned to pilot ${pilotId}`,
      );
    return toJob(j); // already running (a repeated report), or ended meanwhile: the caller decides
  }
}

/**
 * The payload's pid and start time (pilot clock), sent by the pilot once it spawned the payload
 * (with its first heartbeat): recorded once, on the running job of this pilot.
 */
export async function noteStarted(
  jobId: string,
  pilotId: string,
  info: { pid?: number; payloadStartedAt?: string },
): Promise<void> {
  if (info.pid === undefined && info.payloadStartedAt === undefined) return;
  try {
    await db().send(
      new UpdateCommand({
        TableName: jobs(),
        Key: { id: jobId },
        UpdateExpression:
          'SET pid = if_not_exists(pid, :pid), payloadStartedAt = if_not_exists(payloadStartedAt, :ps)',
        ConditionExpression: '#s = :running AND pilotId = :me AND attribute_not_exists(payloadStartedAt)',
        ExpressionAttributeNames: { '#s': 'state' },
        ExpressionAttributeValues: {
          ':running': 'running',
          ':me': pilotId,
          ':pid': info.pid ?? null,
          ':ps': info.payloadStartedAt ?? null,
        },
      }),
    );
  } catch (err) {
    if (!isConditionFailed(err)) throw err; // recorded already, or the job ended meanwhile
  }
}

interface EndInfo {
  exitCode?: number | null;
  signal?: string;
  message?: string;
  stdoutTail?: string;
  stderrTail?: string;
  /** The payload's pid and start (pilot clock): the pilot sends them once the payload ran. */
  pid?: number;
  payloadStartedAt?: string;
}

export interface EndOptions {
  /** The job must be assigned to this pilot (a condition of the transaction). */
  pilotId?: string;
  /**
   * What becomes of that pilot in the same transaction: `free` (it polls again), or ended
   * (`timeout` by the reaper, `stopped` when it said so). Absent: the pilot item is not touched.
   */
  pilot?: 'free' | 'timeout' | 'stopped' | 'killed';
  /** The pilot itself reported: its liveness is refreshed (nothing else ever does that). */
  seen?: boolean;
  /** The reaper's condition: the pilot was not heard from since it read `lastSeenAt`. */
  pilotLastSeenAt?: string;
  requireStateAt?: boolean;
  /** Whether the job holds a cap slot, when the caller knows it better than `job` (the pilot item). */
  counted?: boolean;
  info?: EndInfo;
  attempt?: number;
}

/**
 * Ends a job in a terminal state. When it was in flight, the same transaction gives its cap
 * slot back (exactly once: the decrement is conditioned on the state it leaves) and, when a
 * pilot is named, frees or ends the pilot. `from` lists the states the caller expects the job in.
 * Returns false when the job was not in the expected state (someone else ended it first), or
 * when the reaper's condition on the pilot failed (it was heard from meanwhile).
 */
export async function endJob(
  job: { id: string; jobtype: string; state: JobState | JobState[]; stateAt?: string; counted?: boolean },
  to: JobState,
  opts: EndOptions,
): Promise<boolean> {
  const now = nowIso();
  const info = opts.info ?? {};
  const names: Record<string, string> = { '#s': 'state', '#ttl': 'ttl' };
  const from = Array.isArray(job.state) ? job.state : [job.state];
  const inFlight = from.every((st) => IN_FLIGHT.has(st));
  if (!inFlight && from.some((st) => IN_FLIGHT.has(st)))
    throw new Error('endJob: from-states must be all in flight or none');
  const values: Record<string, unknown> = { ':to': to, ':now': now, ':ttl': endedTtl() };
  from.forEach((st, i) => {
    values[`:from${i}`] = st;
  });
  let set = '#s = :to, stateAt = :now, endedAt = :now, #ttl = :ttl';
  for (const k of ['exitCode', 'signal', 'message', 'stdoutTail', 'stderrTail'] as const) {
    if (info[k] === undefined) continue;
    // `signal` is a DynamoDB reserved word: name every attribute through a placeholder.
    names[`#${k}`] = k;
    set += `, #${k} = :${k}`;
    values[`:${k}`] = info[k];
  }
  for (const k of ['pid', 'payloadStartedAt'] as const) {
    if (info[k] === undefined) continue;
    names[`#${k}`] = k;
    set += `, #${k} = if_not_exists(#${k}, :${k})`;
    values[`:${k}`] = info[k];
  }
  let cond = `#s IN (${from.map((_, i) => `:from${i}`).join(', ')})`;
  if (opts.pilotId) {
    cond += ' AND pilotId = :pid';
    values[':pid'] = opts.pilotId;
  }
  if (opts.requireStateAt && job.stateAt) {
    cond += ' AND stateAt = :stAt';
    values[':stAt'] = job.stateAt;
  }
  const counted = opts.counted ?? job.counted === true;
  // Whoever said "not counted" may know less than the table (a cap's conversion counts jobs in
  // flight): an end that gives no slot back requires the job still uncounted.
  if (inFlight && !counted) cond += ' AND attribute_not_exists(counted)';
  const items: TransactItem[] = [
    {
      Update: {
        TableName: jobs(),
        Key: { id: job.id },
        UpdateExpression: `SET ${set} REMOVE qpk, qsk, killRequested`,
        ConditionExpression: cond,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      },
    },
  ];
  // Only a counted claim took a slot (claim): only its end gives one back.
  if (inFlight && counted) items.push(slotBack(job.jobtype));
  // A pilot that is freed (its own report, or a kill of its dispatched job) is written after the
  // job, not in the same transaction: a plain write costs half, and nothing is lost if the
  // second write never happens — a pilot left holding an ended job is freed by its next poll
  // (pollForWork). A pilot that is ended (the reaper, its `stopped`) goes in the transaction:
  // the reaper's condition on it decides whether the job ends at all.
  const freeAfter = opts.pilotId && opts.pilot === 'free';
  const pilotIndex = items.length;
  if (opts.pilotId && opts.pilot && !freeAfter) {
    items.push(
      pilotAfterJob(opts.pilotId, job.id, opts.pilot, { seen: opts.seen, lastSeenAt: opts.pilotLastSeenAt }),
    );
  }
  try {
    if (items.length === 1) {
      try {
        await db().send(
          new UpdateCommand(items[0]!.Update as ConstructorParameters<typeof UpdateCommand>[0]),
        );
      } catch (err) {
        if (isConditionFailed(err)) return false;
        throw err;
      }
    } else await db().send(new TransactWriteCommand({ TransactItems: items }));
  } catch (err) {
    const codes = cancellationCodes(err);
    if (!codes.length) throw err;
    if (codes[0] === 'ConditionalCheckFailed') return false;
    if (codes[pilotIndex] === 'ConditionalCheckFailed') {
      // The reaper's condition: the pilot was heard from meanwhile — it is not lost after all.
      if (opts.pilotLastSeenAt) return false;
      // The pilot no longer holds this job (it was ended meanwhile): end the job alone.
      return endJob(job, to, { ...opts, pilot: undefined });
    }
    if (codes.some((c) => c === 'TransactionConflict') && (opts.attempt ?? 0) < 20) {
      log.debug('endJob transaction conflict; retrying', { job: job.id });
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 20));
      return endJob(job, to, { ...opts, attempt: (opts.attempt ?? 0) + 1 });
    }
    throw err;
  }
  if (freeAfter) await freePilotOf(opts.pilotId!, job.id, opts.seen === true);
  if (opts.pilotId) assignments.delete(opts.pilotId);
  if (opts.pilotId && opts.pilot) wakeups().notify(pilotKey(opts.pilotId));
  if (items.some((it) => it.Update?.TableName === jobtypes())) noteSlotFreed(job.jobtype);
  return true;
}

/** Frees the pilot that held `jobId` (conditional on it still holding it; a miss is harmless). */
async function freePilotOf(pilotId: string, jobId: string, seen: boolean): Promise<void> {
  const u = pilotAfterJob(pilotId, jobId, 'free', { seen }).Update!;
  try {
    await db().send(new UpdateCommand(u as ConstructorParameters<typeof UpdateCommand>[0]));
  } catch (err) {
    if (!isConditionFailed(err)) throw err;
  }
}

/** The in-flight counter's part of a job leaving `dispatched`/`running`: its cap slot back. */
function slotBack(jobtype: string): TransactItem {
  return {
    Update: {
      TableName: jobtypes(),
      Key: { name: jobtype },
      UpdateExpression: 'ADD inFlight :minus, inFlightOps :one',
      ExpressionAttributeValues: { ':minus': -1, ':one': 1 },
    },
  };
}

/**
 * Takes back a job that was dispatched but whose `jobstart` never came. Such a job provably
 * never ran — a pilot spawns the payload only after the server acknowledged `jobstart`, and that
 * acknowledgement needs the job still `dispatched` to this pilot — so putting it back is not a
 * retry. It returns to the queue at its old place (priority, definition time), **once**: the
 * second time it ends `pilotTO`. In the same transaction its cap slot is returned and the pilot
 * that never started it is ended (`timeout`, or `stopped` when it said it was stopping), so it
 * is never chosen again. Conditions: the job is still `dispatched` to that pilot; for the reaper,
 * the pilot was not heard from since `pilotLastSeenAt`.
 */
export async function takeBack(
  job: JobItem,
  opts: {
    pilot: 'timeout' | 'stopped';
    reason: string;
    pilotLastSeenAt?: string;
    seen?: boolean;
  },
): Promise<'requeued' | 'pilotTO' | false> {
  const pilotId = String(job.pilotId ?? '');
  if (!pilotId) throw new Error(`takeBack: job ${job.id} names no pilot`);
  if (job.requeuedAt) {
    const ok = await endJob({ ...job, state: 'dispatched' }, 'pilotTO', {
      pilotId,
      pilot: opts.pilot,
      seen: opts.seen,
      pilotLastSeenAt: opts.pilotLastSeenAt,
      info: { message: `${opts.reason}; it had been put back in the queue once already` },
    });
    return ok ? 'pilotTO' : false;
  }
  const now = nowIso();
  const definedAt = String(job.definedAt ?? job.createdAt ?? now);
  const items: TransactItem[] = [
    {
      Update: {
        TableName: jobs(),
        Key: { id: job.id },
        UpdateExpression:
          'SET #s = :defined, stateAt = :now, requeuedAt = :now, requeuedFrom = :pid, #msg = :why, qpk = :qpk, qsk = :qsk REMOVE pilotId, host, dispatchedAt',
        ConditionExpression: '#s = :disp AND pilotId = :pid AND attribute_not_exists(requeuedAt)',
        ExpressionAttributeNames: { '#s': 'state', '#msg': 'message' },
        ExpressionAttributeValues: {
          ':defined': 'defined',
          ':disp': 'dispatched',
          ':now': now,
          ':pid': pilotId,
          ':why': `put back in the queue: ${opts.reason}`,
          ':qpk': await partitionOf(job.jobtype, job.site),
          ':qsk': queueSortKey(Number(job.priority ?? 0), definedAt, Number(job.seq ?? 0), job.id),
        },
      },
    },
    pilotAfterJob(pilotId, job.id, opts.pilot, { seen: opts.seen, lastSeenAt: opts.pilotLastSeenAt }),
  ];
  // Its cap slot back, if its claim took one (it stays `counted`: its next claim takes one again).
  if (job.counted) items.push(slotBack(job.jobtype));
  for (let attempt = 0; ; attempt++) {
    try {
      await db().send(new TransactWriteCommand({ TransactItems: items }));
      wakeups().notify(pilotKey(pilotId));
      if (job.counted) noteSlotFreed(job.jobtype);
      assignments.delete(pilotId);
      log.info('job put back in the queue', { job: job.id, pilot: pilotId, reason: opts.reason });
      return 'requeued';
    } catch (err) {
      const codes = cancellationCodes(err);
      if (!codes.length) throw err;
      if (codes[0] === 'ConditionalCheckFailed') return false;
      if (codes[1] === 'ConditionalCheckFailed') {
        if (opts.pilotLastSeenAt) return false; // heard from meanwhile: not lost
        items.splice(1, 1); // the pilot was ended already: take the job back alone
        continue;
      }
      if (codes.includes('TransactionConflict') && attempt < 20) {
        await new Promise((r) => setTimeout(r, 5 + Math.random() * 20));
        continue;
      }
      throw err;
    }
  }
}

/**
 * Releases a workflow job: `template` → `defined`, entering the queue index (which wakes the
 * matchmaker). Returns false when the job was no longer `template` (released or ended by someone
 * else).
 */
export async function releaseJob(
  job: { id: string; jobtype: string; priority: number; site?: string },
  now: string = nowIso(),
  seq = 0,
): Promise<boolean> {
  try {
    await db().send(
      new UpdateCommand({
        TableName: jobs(),
        Key: { id: job.id },
        UpdateExpression:
          'SET #s = :defined, definedAt = :now, stateAt = :now, qpk = :qpk, qsk = :qsk, seq = :seq',
        ConditionExpression: '#s = :template',
        ExpressionAttributeNames: { '#s': 'state' },
        ExpressionAttributeValues: {
          ':defined': 'defined',
          ':template': 'template',
          ':now': now,
          ':qpk': await partitionOf(job.jobtype, job.site),
          ':qsk': queueSortKey(job.priority, now, seq, job.id),
          ':seq': seq,
        },
      }),
    );
    return true;
  } catch (err) {
    if (isConditionFailed(err)) return false;
    throw err;
  }
}

/**
 * Changes a queued job: priority (re-sorts it in the queue) and hold/release (takes it out of
 * or back into the queue index). Only `defined` jobs can be adjusted.
 */
export async function adjustJob(id: string, change: { priority?: number; hold?: boolean }): Promise<Job> {
  const item = await getJobItem(id);
  if (!item) throw new NotFoundError('job', id);
  if (item.state !== 'defined')
    throw new ConflictError(`job ${id} is ${String(item.state)}; only queued (defined) jobs can be adjusted`);
  const priority = change.priority ?? (item.priority as number);
  const held = change.hold ?? Boolean(item.held);
  const values: Record<string, unknown> = { ':p': priority, ':defined': 'defined', ':st': item.stateAt };
  let expr = 'SET priority = :p';
  if (held) expr += ', held = :true REMOVE qpk, qsk';
  else {
    expr += ', qpk = :qpk, qsk = :qsk REMOVE held';
    values[':qpk'] = await partitionOf(String(item.jobtype), item.site as string | undefined);
    values[':qsk'] = queueSortKey(priority, item.definedAt as string, Number(item.seq ?? 0), id);
  }
  if (held) values[':true'] = true;
  try {
    const r = await db().send(
      new UpdateCommand({
        TableName: jobs(),
        Key: { id },
        UpdateExpression: expr,
        ConditionExpression: '#s = :defined AND stateAt = :st',
        ExpressionAttributeNames: { '#s': 'state' },
        ExpressionAttributeValues: values,
        ReturnValues: 'ALL_NEW',
      }),
    );
    return toJob(r.Attributes!);
  } catch (err) {
    if (isConditionFailed(err))
      throw new ConflictError(`job ${id} changed state while being adjusted; try again`);
    throw err;
  }
}

/**
 * Stores the output tails a heartbeat carried on the running job (`stdoutTail`, `stderrTail`,
 * `tailAt`), so the monitor shows them while the job runs. Only while the job is still
 * `running` on this pilot: a late heartbeat never overwrites the final report's tails, and a
 * pilot can never write to a job that is not its own. False when nothing was written.
 */
export async function storeLiveTails(
  jobId: string,
  pilotId: string,
  t: { stdoutTail?: string; stderrTail?: string },
): Promise<boolean> {
  const set: string[] = ['tailAt = :now'];
  const values: Record<string, unknown> = { ':now': nowIso(), ':running': 'running', ':p': pilotId };
  if (t.stdoutTail !== undefined) {
    set.push('stdoutTail = :o');
    values[':o'] = t.stdoutTail;
  }
  if (t.stderrTail !== undefined) {
    set.push('stderrTail = :e');
    values[':e'] = t.stderrTail;
  }
  if (set.length === 1) return false;
  try {
    await db().send(
      new UpdateCommand({
        TableName: jobs(),
        Key: { id: jobId },
        UpdateExpression: `SET ${set.join(', ')}`,
        ConditionExpression: '#s = :running AND pilotId = :p',
        ExpressionAttributeNames: { '#s': 'state' },
        ExpressionAttributeValues: values,
      }),
    );
    return true;
  } catch (err) {
    if (isConditionFailed(err)) return false;
    throw err;
  }
}

/**
 * Kills a job. Queued, held, template and dispatched jobs end `killed` at once (a dispatched
 * job's pilot is freed and told to kill it if it starts it anyway). A running job is marked
 * `killRequested`: its pilot kills the payload's process group at its next heartbeat and reports
 * `killed`.
 */
export async function killJob(id: string, reason = 'killed by an operator'): Promise<Job> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const j = await getJobItem(id);
    if (!j) throw new NotFoundError('job', id);
    const state = j.state as JobState;
    if (isTerminal(state)) throw new ConflictError(`job ${id} has already ended (${state})`);
    if (state === 'running') {
      try {
        const r = await db().send(
          new UpdateCommand({
            TableName: jobs(),
            Key: { id },
            UpdateExpression: 'SET killRequested = :t',
            ConditionExpression: '#s = :running',
            ExpressionAttributeNames: { '#s': 'state' },
            ExpressionAttributeValues: { ':t': true, ':running': 'running' },
            ReturnValues: 'ALL_NEW',
          }),
        );
        await requestJobKill(String(j.pilotId), id);
        return toJob(r.Attributes!);
      } catch (err) {
        if (!isConditionFailed(err)) throw err;
        continue;
      }
    }
    const pilotId = state === 'dispatched' ? (j.pilotId as string) : undefined;
    const ok = await endJob(j, 'killed', {
      pilotId,
      pilot: pilotId ? 'free' : undefined,
      info: { message: reason },
    });
    if (ok) return toJob((await getJobItem(id))!);
  }
  throw new ConflictError(`job ${id} kept changing state; try again`);
}

/**
 * Applies a job type's settings. The first cap also moves the type's queued jobs to its own queue
 * partitions (docs/matching.md, "No starvation by caps"), and a cap on a type that had none
 * counts its jobs already in flight (`countInFlight`): within 5 s here, the rest by the reaper.
 */
export async function applyJobtypeSettings(name: string, s: JobtypeSettings): Promise<Jobtype> {
  const t = await setJobtype(name, s);
  if (!t.migrating && !t.converting) return t;
  const { done } = await migrateToOwnQueue(name, Date.now() + 5000, t.converting === true);
  return done ? { ...t, migrating: undefined, converting: undefined } : t;
}

/** How long a claim may act on a view of the job types (cachedJobtypes in dispatch.ts), with a margin. */
const CLAIM_VIEW_MS = 2000;

/**
 * Moves the queued jobs of a newly capped type from the shared partitions to its own, each
 * conditional on the job still being queued where it was read. Until they are moved, such jobs
 * are still claimable (the claim checks the cap) — only a little less cheap to skip.
 *
 * With `converting` (the type had no cap), it also makes the cap exact (docs/cost-model.md,
 * "Uncapped types off the counter"): it waits until no claim can still act on a view without the
 * cap (CLAIM_VIEW_MS), marks every queued job `counted` (an uncounted claim racing it fails on
 * its condition), and counts every job in flight that its claim did not (`countInFlight`).
 * Meanwhile no claim of the type succeeds (`converting` fails the counted claim's condition).
 *
 * Stops at `deadlineMs` and leaves the flags set so the reaper carries on; clears them when done.
 */
export async function migrateToOwnQueue(
  type: string,
  deadlineMs: number,
  converting = false,
): Promise<{ moved: number; done: boolean }> {
  if (converting) await new Promise((r) => setTimeout(r, CLAIM_VIEW_MS));
  let moved = 0;
  let start: Record<string, unknown> | undefined;
  do {
    if (Date.now() > deadlineMs) return { moved, done: false };
    const page = await jobsInState('defined', {
      jobtype: type,
      inSharedQueue: !converting,
      startKey: start,
      onePage: true,
    });
    for (const j of page.items) {
      const shared = typeof j.qpk === 'string' && j.qpk.startsWith(queuePartition(undefined).slice(0, 2));
      if (!shared && !converting) continue;
      const set: string[] = [];
      const values: Record<string, unknown> = { ':defined': 'defined' };
      let cond = '#s = :defined';
      if (shared) {
        set.push('qpk = :to');
        cond += ' AND qpk = :from';
        Object.assign(values, { ':from': j.qpk, ':to': queuePartition(j.site, type) });
      }
      if (converting) {
        set.push('counted = :true');
        values[':true'] = true;
      }
      try {
        await db().send(
          new UpdateCommand({
            TableName: jobs(),
            Key: { id: j.id },
            UpdateExpression: `SET ${set.join(', ')}`,
            ConditionExpression: cond,
            ExpressionAttributeNames: { '#s': 'state' },
            ExpressionAttributeValues: values,
          }),
        );
        moved++;
      } catch (err) {
        if (!isConditionFailed(err)) throw err; // claimed, held or moved meanwhile
      }
    }
    start = page.next;
  } while (start);
  if (converting && !(await countInFlight(type, deadlineMs))) return { moved, done: false };
  await clearMigrating(type, converting);
  if (moved) log.info("queued jobs moved to their type's own queue", { type, moved, converting });
  return { moved, done: true };
}

/**
 * Counts the jobs of `type` in flight whose claim took no cap slot: per job, one transaction
 * marks it (and its pilot) `counted` and adds one to the type's `inFlight`, conditional on the
 * job still in flight and not yet counted — so a job that ends meanwhile is either ended before
 * (and not counted) or after (and gives its slot back). False when `deadlineMs` passed first.
 */
async function countInFlight(type: string, deadlineMs: number): Promise<boolean> {
  for (const state of ['dispatched', 'running'] as const) {
    const { items } = await jobsInState(state, { jobtype: type });
    for (const j of items) {
      if (j.counted || !j.pilotId) continue;
      if (Date.now() > deadlineMs) return false;
      const job: TransactItem = {
        Update: {
          TableName: jobs(),
          Key: { id: j.id },
          UpdateExpression: 'SET counted = :true',
          ConditionExpression: '#s IN (:d, :r) AND pilotId = :p AND attribute_not_exists(counted)',
          ExpressionAttributeNames: { '#s': 'state' },
          ExpressionAttributeValues: { ':true': true, ':d': 'dispatched', ':r': 'running', ':p': j.pilotId },
        },
      };
      const slot: TransactItem = {
        Update: {
          TableName: jobtypes(),
          Key: { name: type },
          UpdateExpression: 'ADD inFlight :one, inFlightOps :one',
          ExpressionAttributeValues: { ':one': 1 },
        },
      };
      const pilot: TransactItem = {
        Update: {
          TableName: pilots(),
          Key: { id: j.pilotId },
          UpdateExpression: 'SET counted = :true',
          ConditionExpression: 'jobId = :j',
          ExpressionAttributeValues: { ':true': true, ':j': j.id },
        },
      };
      try {
        await db().send(new TransactWriteCommand({ TransactItems: [job, slot, pilot] }));
      } catch (err) {
        const codes = cancellationCodes(err);
        if (!codes.length) throw err;
        if (codes[0] === 'ConditionalCheckFailed') continue; // ended (or counted) meanwhile
        // The pilot no longer holds it (ended; the job's own end is still to come and reads the
        // job's item): count the job alone.
        await db()
          .send(new TransactWriteCommand({ TransactItems: [job, slot] }))
          .catch((e) => {
            if (!cancellationCodes(e).length) throw e;
          });
      }
    }
  }
  return true;
}
