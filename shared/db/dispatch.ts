import { QueryCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { tableName } from '../config.ts';
import { ConflictError, NotFoundError } from '../core/errors.ts';
import { IN_FLIGHT, type Job, type JobState, queuePartition } from '../core/job/job.ts';
import { nowIso } from '../core/util/time.ts';
import { log } from '../log.ts';
import { pilotKey, wakeups } from '../wakeups.ts';
import { db } from './client.ts';
import { cancellationCodes, isConditionFailed } from './conditions.ts';
import { toJob } from './items.ts';
import { endedTtl, getJobItem } from './jobs.ts';
import { getPilotItem, idlePilots, type PilotItem } from './pilots.ts';

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
 * be dispatched twice and a cap can never be exceeded, by construction (DESIGN §4).
 */
export async function claim(
  job: JobItem,
  pilot: { id: string; host: string; site?: string },
): Promise<ClaimResult> {
  const now = nowIso();
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
              UpdateExpression:
                'SET #s = :disp, jobId = :jid, jobtype = :jt, stateAt = :now, lastSeenAt = :now REMOVE ipk, isk, idleSince',
              ConditionExpression:
                '#s IN (:active, :waiting) AND attribute_not_exists(jobId) AND attribute_not_exists(drain) AND attribute_not_exists(#k)',
              ExpressionAttributeNames: { '#s': 'state', '#k': 'kill' },
              ExpressionAttributeValues: {
                ':disp': 'dispatched',
                ':jid': job.id,
                ':jt': job.jobtype,
                ':now': now,
                ':active': 'active',
                ':waiting': 'waiting',
              },
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

/** Head of the queue a pilot of `site` may take: site-bound jobs of its site and unbound jobs, merged. */
export function queueHead(site: string | undefined, limit: number): Promise<JobItem[]> {
  return queueHeadForSites(site ? [site] : [], limit);
}

/**
 * A pilot's own request takes the best job it may run (the fast path). Jobs over their type's
 * cap are skipped and stay queued. Returns undefined when nothing is claimable; if the pilot was
 * given a job concurrently (by the matchmaker), that job is returned.
 */
export async function claimNext(pilot: PilotItem): Promise<Job | undefined> {
  const contended = isContended(pilot.id);
  const head = await queueHead(pilot.site, contended ? 32 : 8);
  const skipTypes = new Set<string>();
  // Uncontended, the first try is the head of the queue (exact priority/FIFO order). When this
  // pilot has been losing races (many pilots polling at once, all reading the same head), the
  // first try is a random job of the head's priority, as is every try after a lost race: racing
  // pilots spread out instead of all colliding on the same next job, and a lower priority is
  // never taken while a higher one is left. A bounded number of attempts: the matchmaker covers
  // the rest.
  let candidates = head;
  for (let attempt = 0; attempt < MAX_FAST_PATH_ATTEMPTS && candidates.length; attempt++) {
    const top = candidates.filter((c) => c.priority === candidates[0]!.priority).length;
    const i = attempt === 0 && !contended ? 0 : Math.floor(Math.random() * top);
    const job = candidates[i]!;
    candidates = candidates.filter((_, k) => k !== i);
    if (skipTypes.has(job.jobtype)) {
      attempt--;
      continue;
    }
    const r = await claim(job, pilot);
    if (r.ok) return r.job;
    if (r.reason === 'job' || r.reason === 'conflict') noteLostRace(pilot.id);
    if (r.reason === 'cap') {
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
 * One matchmaking round: pairs queued jobs (priority, then age) with idle pilots (longest idle
 * first), honouring site requirements and caps. Safe to run concurrently with other rounds and
 * with pilots' own claims: every pairing is a conditional claim, and losing one is harmless.
 * Pilots not seen for `staleMs` are skipped (they are probably gone; the reaper will time them out).
 */
export async function matchRound(opts: {
  staleMs: number;
  maxPairs?: number;
  fresh?: JobItem[];
}): Promise<number> {
  const max = opts.maxPairs ?? 500;
  let matched = 0;
  const now = Date.now();
  let idle = (await idlePilots(200)).filter((p) => now - Date.parse(p.lastSeenAt) < opts.staleMs);
  if (!idle.length) return 0;
  const sites = [...new Set(idle.map((p) => p.site).filter((s): s is string => Boolean(s)))];
  // Jobs queued by the records that triggered this round join the head: on AWS the queue GSI
  // can lag its table by about a second, and the claim's conditions make a stale copy harmless.
  // Read only as much of the queue as the idle pilots can take (plus room for capped types).
  const queried = await queueHeadForSites(sites, Math.min(200, idle.length * 4 + 8));
  const seen = new Set(queried.map((j) => j.id));
  const head = [...queried, ...(opts.fresh ?? []).filter((j) => !seen.has(j.id))].sort((a, b) =>
    String(a.qsk).localeCompare(String(b.qsk)),
  );
  const capped = new Set<string>();
  for (const job of head) {
    if (matched >= max || !idle.length) break;
    if (capped.has(job.jobtype)) continue;
    for (;;) {
      const i = idle.findIndex((p) => !job.site || p.site === job.site);
      if (i < 0) break;
      const pilot = idle[i]!;
      let r = await claim(job, pilot);
      for (let retry = 0; !r.ok && r.reason === 'conflict' && retry < 3; retry++) {
        await new Promise((res) => setTimeout(res, 1 + Math.random() * 4));
        r = await claim(job, pilot);
      }
      if (r.ok) {
        idle.splice(i, 1);
        matched++;
        break;
      }
      if (r.reason === 'pilot') {
        idle.splice(i, 1);
        continue;
      }
      if (r.reason === 'cap') capped.add(job.jobtype);
      break;
    }
  }
  idle = [];
  return matched;
}

/** Queue head over the unbound partition and those of `sites`, merged in queue order. */
async function queueHeadForSites(sites: string[], limit: number): Promise<JobItem[]> {
  const parts = [queuePartition(undefined), ...sites.map((s) => queuePartition(s))];
  const pages = await Promise.all(
    parts.map((qpk) =>
      db().send(
        new QueryCommand({
          TableName: jobs(),
          IndexName: 'queue',
          KeyConditionExpression: 'qpk = :q',
          ExpressionAttributeValues: { ':q': qpk },
          Limit: limit,
        }),
      ),
    ),
  );
  return pages
    .flatMap((p) => (p.Items ?? []) as JobItem[])
    .sort((a, b) => String(a.qsk).localeCompare(String(b.qsk)))
    .slice(0, limit);
}

/** `jobstart`: dispatched → running, by the pilot it was given to. Idempotent. */
export async function startJob(
  jobId: string,
  pilotId: string,
  info: { pid?: number; payloadStartedAt?: string },
): Promise<Job> {
  const now = nowIso();
  try {
    const r = await db().send(
      new UpdateCommand({
        TableName: jobs(),
        Key: { id: jobId },
        UpdateExpression:
          'SET #s = :running, startedAt = :now, stateAt = :now, pid = :pid, payloadStartedAt = :ps',
        ConditionExpression: '#s = :disp AND pilotId = :me',
        ExpressionAttributeNames: { '#s': 'state' },
        ExpressionAttributeValues: {
          ':running': 'running',
          ':disp': 'dispatched',
          ':me': pilotId,
          ':now': now,
          ':pid': info.pid ?? null,
          ':ps': info.payloadStartedAt ?? null,
        },
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
    if (j.pilotId !== pilotId) throw new ConflictError(`job ${jobId} is not assigned to pilot ${pilotId}`);
    return toJob(j); // already running (a repeated report), or ended meanwhile: the caller decides
  }
}

export interface EndInfo {
  exitCode?: number | null;
  signal?: string;
  message?: string;
  stdoutTail?: string;
  stderrTail?: string;
}

/**
 * Ends a job in a terminal state. When it was in flight, the same transaction gives its cap
 * slot back (exactly once: the decrement is conditioned on the state it leaves) and, when a
 * pilot is named, frees the pilot. `from` lists the states the caller expects the job in.
 * Returns false when the job was not in the expected state (someone else ended it first).
 */
export async function endJob(
  job: { id: string; jobtype: string; state: JobState | JobState[]; stateAt?: string },
  to: JobState,
  opts: { pilotId?: string; freePilot?: boolean; requireStateAt?: boolean; info?: EndInfo; attempt?: number },
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
  let cond = `#s IN (${from.map((_, i) => `:from${i}`).join(', ')})`;
  if (opts.pilotId) {
    cond += ' AND pilotId = :pid';
    values[':pid'] = opts.pilotId;
  }
  if (opts.requireStateAt && job.stateAt) {
    cond += ' AND stateAt = :stAt';
    values[':stAt'] = job.stateAt;
  }
  const items: NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]['TransactItems']> = [
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
  if (inFlight) {
    items.push({
      Update: {
        TableName: jobtypes(),
        Key: { name: job.jobtype },
        UpdateExpression: 'ADD inFlight :minus, inFlightOps :one',
        ExpressionAttributeValues: { ':minus': -1, ':one': 1 },
      },
    });
  }
  if (opts.pilotId && opts.freePilot) {
    items.push({
      Update: {
        TableName: pilots(),
        Key: { id: opts.pilotId },
        UpdateExpression:
          'SET #s = :active, stateAt = :now, lastSeenAt = :now ADD jobcount :one REMOVE jobId, jobtype, killJobId',
        ConditionExpression: 'jobId = :jid',
        ExpressionAttributeNames: { '#s': 'state' },
        ExpressionAttributeValues: { ':active': 'active', ':now': now, ':one': 1, ':jid': job.id },
      },
    });
  }
  try {
    await db().send(new TransactWriteCommand({ TransactItems: items }));
  } catch (err) {
    const codes = cancellationCodes(err);
    if (!codes.length) throw err;
    if (codes[0] === 'ConditionalCheckFailed') return false;
    if (codes[2] === 'ConditionalCheckFailed') {
      // The pilot no longer holds this job (it was timed out meanwhile): end the job alone.
      return endJob(job, to, { ...opts, freePilot: false });
    }
    if (codes.some((c) => c === 'TransactionConflict') && (opts.attempt ?? 0) < 20) {
      log.debug('endJob transaction conflict; retrying', { job: job.id });
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 20));
      return endJob(job, to, { ...opts, attempt: (opts.attempt ?? 0) + 1 });
    }
    throw err;
  }
  return true;
}
