import { QueryCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { tableName } from '../config.ts';
import { ConflictError, NotFoundError } from '../core/errors.ts';
import { IN_FLIGHT, type Job, type JobState, queuePartition, queueSortKey } from '../core/job/job.ts';
import { freeSlots, type Jobtype } from '../core/jobtype/jobtype.ts';
import { nowIso } from '../core/util/time.ts';
import { log } from '../log.ts';
import { pilotKey, wakeups } from '../wakeups.ts';
import { db } from './client.ts';
import { cancellationCodes, isConditionFailed } from './conditions.ts';
import { toJob } from './items.ts';
import { endedTtl, getJobItem } from './jobs.ts';
import { cachedJobtypes, listJobtypes, noteClaimed, noteTypeFull, partitionOf } from './jobtypes.ts';
import { getPilotItem, idlePilots, type PilotItem, pilotAfterJob, type TransactItem } from './pilots.ts';

const jobs = () => tableName('jobs');
const pilots = () => tableName('pilots');
const jobtypes = () => tableName('jobtypes');

export type JobItem = Record<string, unknown> & {
  id: string;
  jobtype: string;
  site?: string;
  state: JobState;
  qsk?: string;
};

export type ClaimResult =
  | { ok: true; job: Job }
  | { ok: false; reason: 'job' | 'cap' | 'pilot' | 'conflict' };

/**
 * The claim: one transaction moves the job `defined → dispatched`, the pilot to `dispatched`,
 * and adds one to the job type's in-flight counter under `inFlight < limit`. So a job can never
 * be dispatched twice and a cap can never be exceeded, by construction (docs/matching.md).
 *
 * `by`: `pilot` when the pilot's own poll claims (that request is its sign of life), `matchmaker`
 * when the server hands the job to an idle pilot — then the pilot must be holding a poll that is
 * still open (`holdUntil` in the future), and its liveness is not refreshed on its behalf.
 */
export async function claim(
  job: JobItem,
  pilot: { id: string; host: string; site?: string },
  by: 'pilot' | 'matchmaker',
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
  try {
    await db().send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Update: {
              TableName: jobs(),
              Key: { id: job.id },
              UpdateExpression:
                'SET #s = :disp, pilotId = :pid, host = :host, dispatchedAt = :now, stateAt = :now REMOVE qpk, qsk',
              ConditionExpression: '#s = :defined AND attribute_exists(qpk)',
              ExpressionAttributeNames: { '#s': 'state' },
              ExpressionAttributeValues: {
                ':disp': 'dispatched',
                ':defined': 'defined',
                ':pid': pilot.id,
                ':host': pilot.host,
                ':now': now,
              },
            },
          },
          {
            Update: {
              TableName: jobtypes(),
              Key: { name: job.jobtype },
              // inFlightOps counts every change of inFlight: the sweeper's recount is conditioned on it.
              UpdateExpression: 'ADD inFlight :one, inFlightOps :one',
              ConditionExpression: 'attribute_not_exists(#limit) OR inFlight < #limit',
              ExpressionAttributeNames: { '#limit': 'limit' },
              ExpressionAttributeValues: { ':one': 1 },
            },
          },
          {
            Update: {
              TableName: pilots(),
              Key: { id: pilot.id },
              // holdUntil stays: the reaper's record of when the pilot's poll was due to end.
              UpdateExpression: `SET #s = :disp, jobId = :jid, jobtype = :jt, stateAt = :now${by === 'pilot' ? ', lastSeenAt = :now' : ''} REMOVE ipk, isk, idleSince`,
              ConditionExpression: pilotCond,
              ExpressionAttributeNames: { '#s': 'state', '#k': 'kill' },
              ExpressionAttributeValues: pilotValues,
            },
          },
        ],
      }),
    );
  } catch (err) {
    const codes = cancellationCodes(err);
    if (!codes.length) throw err;
    if (codes[0] === 'ConditionalCheckFailed') return { ok: false, reason: 'job' };
    if (codes[2] === 'ConditionalCheckFailed') return { ok: false, reason: 'pilot' };
    if (codes[1] === 'ConditionalCheckFailed') return { ok: false, reason: 'cap' };
    return { ok: false, reason: 'conflict' };
  }
  wakeups().notify(pilotKey(pilot.id));
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

/** A queue partition to read and how much of it. */
interface HeadPart {
  qpk: string;
  limit: number;
}

/**
 * The partitions a round or a poll reads for pilots of `sites`: the shared ones (types without
 * a queue of their own) and the own partitions of every such type with a free cap slot. A type
 * at its cap is not read at all, so its queued jobs cost nothing and hide nothing.
 */
function headParts(types: Map<string, Jobtype>, sites: (string | undefined)[], want: number): HeadPart[] {
  const where = [...new Set([undefined, ...sites])];
  const parts: HeadPart[] = where.map((s) => ({ qpk: queuePartition(s), limit: want }));
  for (const t of types.values()) {
    if (!t.ownQueue) continue;
    const free = freeSlots(t);
    if (free <= 0) continue;
    for (const s of where) parts.push({ qpk: queuePartition(s, t.name), limit: Math.min(want, free) });
  }
  return parts;
}

/** The heads of `parts`, merged in queue order (priority, then FIFO). */
async function readHead(parts: HeadPart[]): Promise<JobItem[]> {
  const pages = await Promise.all(
    parts.map((p) =>
      db().send(
        new QueryCommand({
          TableName: jobs(),
          IndexName: 'queue',
          KeyConditionExpression: 'qpk = :q',
          ExpressionAttributeValues: { ':q': p.qpk },
          Limit: p.limit,
        }),
      ),
    ),
  );
  return pages.flatMap((p) => (p.Items ?? []) as JobItem[]).sort(byQueueOrder);
}

const byQueueOrder = (a: JobItem, b: JobItem) => String(a.qsk).localeCompare(String(b.qsk));

/** Head of the queue a pilot of `site` may take, over every partition it may read (tests, tools). */
export async function queueHead(site: string | undefined, limit: number): Promise<JobItem[]> {
  return (await readHead(headParts(await listJobtypesMap(), [site], limit))).slice(0, limit);
}

async function listJobtypesMap(): Promise<Map<string, Jobtype>> {
  return new Map((await listJobtypes()).map((t) => [t.name, t]));
}

/**
 * A pilot's own request takes the best job it may run (the fast path). Types at their cap are
 * not read (their own partitions are skipped) or, if a claim finds one full, skipped; their jobs
 * stay queued. Returns undefined when nothing is claimable; if the pilot was given a job
 * concurrently (by the matchmaker), that job is returned.
 */
export async function claimNext(pilot: PilotItem): Promise<Job | undefined> {
  const contended = isContended(pilot.id);
  const want = contended ? 32 : 8;
  const types = await cachedJobtypes();
  const head = (await readHead(headParts(types, [pilot.site], want))).filter(
    (j) => freeSlots(types.get(j.jobtype) ?? { inFlight: 0 }) > 0,
  );
  const skipTypes = new Set<string>();
  // Uncontended, the first try is the head of the queue (exact priority/FIFO order). When this
  // pilot has been losing races (many pilots polling at once, all reading the same head), the
  // first try is a random job of the head's priority, as is every try after a lost race: racing
  // pilots spread out instead of all colliding on the same next job, and a lower priority is
  // never taken while a higher one is left. A bounded number of attempts: the matchmaker covers
  // the rest.
  let candidates = head.slice(0, want);
  for (let attempt = 0; attempt < MAX_FAST_PATH_ATTEMPTS && candidates.length; attempt++) {
    const top = candidates.filter((c) => c.priority === candidates[0]!.priority).length;
    const i = attempt === 0 && !contended ? 0 : Math.floor(Math.random() * top);
    const job = candidates[i]!;
    candidates = candidates.filter((_, k) => k !== i);
    if (skipTypes.has(job.jobtype)) {
      attempt--;
      continue;
    }
    const r = await claim(job, pilot, 'pilot');
    if (r.ok) {
      noteClaimed(job.jobtype);
      return r.job;
    }
    if (r.reason === 'job' || r.reason === 'conflict') noteLostRace(pilot.id);
    if (r.reason === 'cap') {
      noteTypeFull(job.jobtype);
      skipTypes.add(job.jobtype);
      candidates = candidates.filter((c) => c.jobtype !== job.jobtype);
    } else if (r.reason === 'pilot') return assignedJob(pilot.id);
    else if (r.reason === 'conflict') {
      candidates.push(job); // the job may still be free: a transaction conflict is not a loss
      await new Promise((res) => setTimeout(res, 1 + Math.random() * 4));
    }
  }
  return undefined;
}

const MAX_FAST_PATH_ATTEMPTS = 6;
/**
 * Whether a pilot's claim should expect to race: the pilot itself lost a race in the last
 * CONTENDED_MS, or claims in this container recently lost CROWD races within a second (many
 * pilots polling at once). Memory is per container: on Lambda a poll that reaches another
 * container starts uncontended, which only costs it a possible lost race. A lone pilot never
 * races, so it always takes the exact head of the queue.
 */
function isContended(pilotId: string): boolean {
  const now = Date.now();
  if (now - (lostRaceAt.get(pilotId) ?? 0) < CONTENDED_MS) return true;
  // A crowd: CROWD losses within a second of each other, the last one recent.
  const n = recentLosses.length;
  return (
    n >= CROWD && recentLosses[n - 1]! - recentLosses[0]! < 1000 && now - recentLosses[n - 1]! < CONTENDED_MS
  );
}

const CONTENDED_MS = 2000;
const CROWD = 5;
const lostRaceAt = new Map<string, number>();
/** Times of this container's last CROWD lost races, oldest first. */
const recentLosses: number[] = [];

function noteLostRace(pilotId: string): void {
  const now = Date.now();
  if (lostRaceAt.size > 10_000)
    for (const [id, at] of lostRaceAt) if (now - at >= CONTENDED_MS) lostRaceAt.delete(id);
  lostRaceAt.set(pilotId, now);
  recentLosses.push(now);
  if (recentLosses.length > CROWD) recentLosses.shift();
}

/** The job a pilot was given and has not started yet, if any. */
export async function assignedJob(pilotId: string): Promise<Job | undefined> {
  const p = await getPilotItem(pilotId);
  if (!p?.jobId || p.state !== 'dispatched') return undefined;
  const j = await getJobItem(p.jobId);
  return j && j.state === 'dispatched' && j.pilotId === pilotId ? toJob(j) : undefined;
}

/**
 * A held poll is handed a job only if it stays open at least this long: time for the claim, the
 * wake-up and the answer. A pilot whose hold is about to end polls again and takes work itself.
 */
const HOLD_MARGIN_MS = 500;

/**
 * One matchmaking round: pairs queued jobs (priority, then age) with pilots holding a live poll
 * (latest hold first: the pilot most recently heard from is the most likely to be alive),
 * honouring site requirements and caps. Safe to run concurrently with other rounds and with
 * pilots' own claims: every pairing is a conditional claim, and losing one is harmless.
 */
export async function matchRound(opts: { maxPairs?: number; fresh?: JobItem[] } = {}): Promise<number> {
  const max = opts.maxPairs ?? 500;
  let matched = 0;
  const idle = await idlePilots(200, new Date(Date.now() + HOLD_MARGIN_MS).toISOString());
  if (!idle.length) return 0;
  const types = await listJobtypesMap();
  const sites = [...new Set(idle.map((p) => p.site).filter((s): s is string => Boolean(s)))];
  const free = new Map([...types.values()].map((t) => [t.name, freeSlots(t)]));
  const open = (type: string) => (free.get(type) ?? Number.POSITIVE_INFINITY) > 0;
  // Jobs queued by the records that triggered this round join the head: on AWS the queue GSI
  // can lag its table by about a second, and the claim's conditions make a stale copy harmless.
  // Read only as much of each partition as the idle pilots (or the type's free slots) can take.
  const queried = await readHead(headParts(types, sites, Math.min(200, idle.length + 4)));
  const seen = new Set(queried.map((j) => j.id));
  const head = [...queried, ...(opts.fresh ?? []).filter((j) => !seen.has(j.id))].sort(byQueueOrder);
  for (const job of head) {
    if (matched >= max || !idle.length) break;
    if (!open(job.jobtype)) continue;
    for (;;) {
      const i = idle.findIndex((p) => !job.site || p.site === job.site);
      if (i < 0) break;
      const pilot = idle[i]!;
      let r = await claim(job, pilot, 'matchmaker');
      for (let retry = 0; !r.ok && r.reason === 'conflict' && retry < 3; retry++) {
        await new Promise((res) => setTimeout(res, 1 + Math.random() * 4));
        r = await claim(job, pilot, 'matchmaker');
      }
      if (r.ok) {
        idle.splice(i, 1);
        free.set(job.jobtype, (free.get(job.jobtype) ?? Number.POSITIVE_INFINITY) - 1);
        matched++;
        break;
      }
      if (r.reason === 'pilot') {
        idle.splice(i, 1);
        continue;
      }
      if (r.reason === 'cap') free.set(job.jobtype, 0);
      break;
    }
  }
  return matched;
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
  let set = 'SET #s = :running, startedAt = :now, stateAt = :now';
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
    await db()
      .send(
        new UpdateCommand({
          TableName: pilots(),
          Key: { id: pilotId },
          UpdateExpression: 'SET #s = :running, stateAt = :now, lastSeenAt = :now',
          ConditionExpression: 'jobId = :jid',
          ExpressionAttributeNames: { '#s': 'state' },
          ExpressionAttributeValues: { ':running': 'running', ':now': now, ':jid': jobId },
        }),
      )
      .catch((err) => {
        if (!isConditionFailed(err)) throw err;
      });
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

export interface EndInfo {
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
  job: { id: string; jobtype: string; state: JobState | JobState[]; stateAt?: string },
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
  if (inFlight) items.push(slotBack(job.jobtype));
  const pilotIndex = items.length;
  if (opts.pilotId && opts.pilot) {
    items.push(
      pilotAfterJob(opts.pilotId, job.id, opts.pilot, { seen: opts.seen, lastSeenAt: opts.pilotLastSeenAt }),
    );
  }
  try {
    await db().send(new TransactWriteCommand({ TransactItems: items }));
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
  if (opts.pilotId && opts.pilot) wakeups().notify(pilotKey(opts.pilotId));
  return true;
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
    slotBack(job.jobtype),
    pilotAfterJob(pilotId, job.id, opts.pilot, { seen: opts.seen, lastSeenAt: opts.pilotLastSeenAt }),
  ];
  for (let attempt = 0; ; attempt++) {
    try {
      await db().send(new TransactWriteCommand({ TransactItems: items }));
      wakeups().notify(pilotKey(pilotId));
      log.info('job put back in the queue', { job: job.id, pilot: pilotId, reason: opts.reason });
      return 'requeued';
    } catch (err) {
      const codes = cancellationCodes(err);
      if (!codes.length) throw err;
      if (codes[0] === 'ConditionalCheckFailed') return false;
      if (codes[2] === 'ConditionalCheckFailed') {
        if (opts.pilotLastSeenAt) return false; // heard from meanwhile: not lost
        items.pop(); // the pilot was ended already: take the job back alone
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
