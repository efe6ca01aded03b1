import { randomUUID } from 'node:crypto';
import { DeleteCommand, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import { config, tableName } from '../config.ts';
import { ConflictError, NotFoundError, ValidationError } from '../core/errors.ts';
import { type Job, JobState, type JobSubmission, queuePartition, queueSortKey } from '../core/job/job.ts';
import { nowIso, ttlAfterDays } from '../core/util/time.ts';
import { batchGet, batchPut } from './batch.ts';
import { db } from './client.ts';
import { isConditionFailed } from './conditions.ts';
import {
  dayRange,
  dayStart,
  decodeCursor,
  encodeCursor,
  prevDay,
  queryFrom,
  ReadBudget,
  utcIso,
} from './cursor.ts';
import { anyOf } from './filters.ts';
import { dayPartition, toJob } from './items.ts';
import { getJobtypes } from './jobtypes.ts';

const table = () => tableName('jobs');

/**
 * A job as stored: the fields the repositories rely on, parsed at the boundary (every read of
 * the jobs table goes through `parseJob`); the rest of the item (payload, env, tails…) is kept
 * as it is and leaves the repositories only through the explicit answer fields (`toJob`,
 * shared/db/items.ts). Internal attributes: `qpk`/`qsk`/`seq` (queue), `lpk` (listing), `ttl`.
 */
export const JobRecord = z.looseObject({
  id: z.string(),
  jobtype: z.string(),
  state: JobState,
  name: z.string().optional(),
  site: z.string().optional(),
  priority: z.number().optional(),
  timelimit: z.number().optional(),
  pilotId: z.string().optional(),
  workflowId: z.string().optional(),
  vertex: z.string().optional(),
  qpk: z.string().optional(),
  qsk: z.string().optional(),
  seq: z.number().optional(),
  createdAt: z.string().optional(),
  definedAt: z.string().optional(),
  stateAt: z.string().optional(),
  dispatchedAt: z.string().optional(),
  startedAt: z.string().optional(),
  endedAt: z.string().optional(),
  requeuedAt: z.string().optional(),
  requeuedFrom: z.string().optional(),
});
export type JobRecord = z.infer<typeof JobRecord>;

/** An item of the jobs table (or of one of its indexes) as a JobRecord; throws on a malformed one. */
export const parseJob = (item: Record<string, unknown>): JobRecord => JobRecord.parse(item);

export interface CreateOptions {
  /** Who submitted (the caller's token name unless the job names a user). */
  user?: string;
  /** Sets env.P3S_INPUT_FILE on every job (the original `-f INPUT`). */
  inputFile?: string;
  /** Workflow jobs are created as `template` and released by the workflow advancer. */
  workflowId?: string;
  vertices?: string[];
  state?: 'template';
  /** Extra attributes for data-triggered jobs (rule id, data id). */
  extra?: Record<string, string>;
  /**
   * Ids chosen by the caller (deterministic, shared/core/util/ids.ts), one per job. Each job is
   * then written with a conditional Put: a job whose id exists already (an earlier attempt of
   * the same work) is left as it is, never overwritten — so a retried creation makes each job
   * once. Without `ids`, jobs get fresh UUIDs and are written in batches.
   */
  ids?: string[];
}

/** Builds the stored item for a new job. Queued (defined, not held) jobs enter the queue index. */
function newJobItem(
  sub: JobSubmission,
  defaults: { priority: number; ownQueue?: boolean },
  opts: CreateOptions & { vertex?: string; seq?: number; id?: string },
  now: string,
) {
  const id = opts.id ?? randomUUID();
  const env = { ...sub.env };
  if (opts.inputFile) env.P3S_INPUT_FILE = opts.inputFile;
  const priority = sub.priority ?? defaults.priority;
  const state: JobState = opts.state ?? 'defined';
  const held = state === 'defined' && sub.state === 'held';
  const item: Record<string, unknown> = {
    id,
    name: sub.name ?? opts.vertex ?? sub.jobtype,
    jobtype: sub.jobtype,
    payload: sub.payload,
    env,
    priority,
    timelimit: sub.timelimit,
    state,
    held: held || undefined,
    site: sub.site,
    user: sub.user ?? opts.user,
    inputFile: env.P3S_INPUT_FILE,
    workflowId: opts.workflowId,
    vertex: opts.vertex,
    createdAt: now,
    definedAt: state === 'defined' ? now : undefined,
    stateAt: now,
    lpk: dayPartition('job', now),
    ...(opts.extra ?? {}),
  };
  if (state === 'defined' && !held) {
    item.qpk = queuePartition(sub.site, defaults.ownQueue ? sub.jobtype : undefined);
    item.seq = opts.seq ?? 0;
    item.qsk = queueSortKey(priority, now, opts.seq ?? 0, id);
  }
  return item;
}

/**
 * Creates jobs (one BatchWrite per 25). Ids are fresh UUIDs made here, so no condition is needed;
 * the job type's default priority applies to jobs submitted without one. With `opts.ids`, each
 * job is a conditional Put that leaves an existing job of that id alone (see CreateOptions.ids);
 * the jobs returned are then the ones this call meant to write.
 */
export async function createJobs(subs: JobSubmission[], opts: CreateOptions = {}): Promise<Job[]> {
  if (opts.vertices && opts.vertices.length !== subs.length)
    throw new ValidationError('vertices must match jobs');
  if (opts.ids && opts.ids.length !== subs.length) throw new ValidationError('ids must match jobs');
  const types = await getJobtypes(subs.map((s) => s.jobtype));
  const now = nowIso();
  const items = subs.map((s, i) =>
    newJobItem(
      s,
      { priority: types.get(s.jobtype)?.priority ?? 0, ownQueue: types.get(s.jobtype)?.ownQueue },
      { ...opts, vertex: opts.vertices?.[i], seq: i, id: opts.ids?.[i] },
      now,
    ),
  );
  if (opts.ids) await putOnce(items);
  else await batchPut(table(), items);
  return items.map(toJob);
}

/** Conditional Puts, a few at a time: an item whose id exists is kept as it is. */
async function putOnce(items: Record<string, unknown>[]): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const Item = items[next++]!;
      try {
        await db().send(
          new PutCommand({ TableName: table(), Item, ConditionExpression: 'attribute_not_exists(id)' }),
        );
      } catch (err) {
        if (!isConditionFailed(err)) throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, items.length) }, worker));
}

export async function getJobItem(id: string): Promise<JobRecord | undefined> {
  const r = await db().send(new GetCommand({ TableName: table(), Key: { id }, ConsistentRead: true }));
  return r.Item ? parseJob(r.Item) : undefined;
}

/** Which of `ids` name an existing job: consistent BatchGets of the keys. */
export async function existingJobIds(ids: readonly string[]): Promise<Set<string>> {
  const items = await batchGet(
    table(),
    ids.map((id) => ({ id })),
    { consistent: true, attributes: ['id'] },
  );
  return new Set(items.map((it) => String(it.id)));
}

export async function getJob(id: string): Promise<Job> {
  const item = await getJobItem(id);
  if (!item) throw new NotFoundError('job', id);
  return toJob(item);
}

export interface JobFilter {
  state?: JobState[];
  /** One value, or a list meaning any of them. */
  jobtype?: string | readonly string[];
  user?: string | readonly string[];
  site?: string | readonly string[];
  pilotId?: string;
  workflowId?: string;
  /** Time window (ISO): on `stateAt` when filtering by state, else on `createdAt`. */
  since?: string;
  until?: string;
  limit: number;
  cursor?: string;
}

/** Index key attributes a listing cursor's start key may hold (see keyOf). */
const CURSOR_KEY_ATTRS: ReadonlySet<string> = new Set([
  'id',
  'state',
  'stateAt',
  'lpk',
  'createdAt',
  'pilotId',
  'dispatchedAt',
  'workflowId',
  'vertex',
]);

function filterExpression(
  f: JobFilter,
  names: Record<string, string>,
  values: Record<string, unknown>,
): string | undefined {
  const parts: string[] = [];
  for (const k of ['jobtype', 'user', 'site'] as const) {
    const term = anyOf(k, f[k], names, values);
    if (term) parts.push(term);
  }
  return parts.length ? parts.join(' AND ') : undefined;
}

/** A page of jobs. `searchedBackTo`: the page ended on the read budget (ReadBudget), having looked at everything newer than that time. */
export interface JobPage {
  jobs: Job[];
  nextCursor?: string;
  searchedBackTo?: string;
}

/** The time attribute each index sorts by (none for byWorkflow, which sorts by vertex). */
const INDEX_TIME: Record<string, string | undefined> = {
  byState: 'stateAt',
  list: 'createdAt',
  byPilot: 'dispatchedAt',
};

/**
 * Lists jobs newest first through an index (never a table scan): by state (`byState`, ordered by
 * the time the job entered that state), by pilot, by workflow, or by creation day (`list`).
 * A request reads at most its read budget (ReadBudget): a filter that matches little ends the
 * page early, with a cursor and `searchedBackTo`.
 */
export async function listJobs(given: JobFilter, shared?: ReadBudget): Promise<JobPage> {
  // Index sort keys are UTC ISO strings: compare the window in that form, not with its offset.
  const f = { ...given, since: utcIso(given.since), until: utcIso(given.until) };
  if (f.since && f.until && f.since > f.until) return { jobs: [] };
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  const filter = filterExpression(f, names, values);
  const cursor = decodeCursor(f.cursor, CURSOR_KEY_ATTRS);
  const budget = shared ?? new ReadBudget(f.limit);
  const out: Record<string, unknown>[] = [];

  /**
   * Reads one index partition until `want` jobs are collected (`next`: the key to resume after
   * the last one returned, when more may follow), the partition ends, or the budget is spent
   * (`cut`: the key of the last item read).
   */
  const drain = async (
    q: {
      IndexName: string;
      KeyConditionExpression: string;
      names: Record<string, string>;
      values: Record<string, unknown>;
    },
    startKey: Record<string, unknown> | undefined,
    want: number,
  ): Promise<{ next?: Record<string, unknown>; cut?: Record<string, unknown> }> => {
    let start = startKey;
    const attrNames = { ...names, ...q.names };
    do {
      const r = await queryFrom(
        new QueryCommand({
          TableName: table(),
          IndexName: q.IndexName,
          KeyConditionExpression: q.KeyConditionExpression,
          FilterExpression: filter,
          // DynamoDB rejects an empty map (an unfiltered listing has no names).
          ExpressionAttributeNames: Object.keys(attrNames).length ? attrNames : undefined,
          ExpressionAttributeValues: { ...values, ...q.values },
          ScanIndexForward: false,
          Limit: budget.cap(Math.max(want - out.length, 1) * (filter ? 4 : 1)),
          ExclusiveStartKey: start,
        }),
      );
      budget.spend(r);
      const items = r.Items ?? [];
      const room = want - out.length;
      out.push(...items.slice(0, Math.max(room, 0)));
      start = r.LastEvaluatedKey;
      if (out.length >= want) {
        // Resume after the last item we return, not after the last one DynamoDB read: matches
        // of this page beyond `want` come next time.
        const last = out[out.length - 1]!;
        return start || items.length > room ? { next: keyOf(last, q.IndexName) } : {};
      }
      if (start && budget.spent) return { cut: start };
    } while (start);
    return {};
  };
  const timeOf = (key: Record<string, unknown>, index: string) => {
    const attr = INDEX_TIME[index];
    return attr ? String(key[attr]) : undefined;
  };

  const window = (
    attr: string,
    q: { cond: string; names: Record<string, string>; values: Record<string, unknown> },
  ) => {
    if (f.since && f.until) {
      q.cond += ` AND #w BETWEEN :since AND :until`;
      Object.assign(q.values, { ':since': f.since, ':until': f.until });
    } else if (f.since) {
      q.cond += ' AND #w >= :since';
      q.values[':since'] = f.since;
    } else if (f.until) {
      q.cond += ' AND #w <= :until';
      q.values[':until'] = f.until;
    } else return q;
    q.names['#w'] = attr;
    return q;
  };

  if (f.state?.length === 1 || f.pilotId || f.workflowId) {
    let q: { idx: string; cond: string; names: Record<string, string>; values: Record<string, unknown> };
    if (f.pilotId) q = { idx: 'byPilot', cond: 'pilotId = :pid', names: {}, values: { ':pid': f.pilotId } };
    else if (f.workflowId)
      q = { idx: 'byWorkflow', cond: 'workflowId = :wid', names: {}, values: { ':wid': f.workflowId } };
    else {
      q = { idx: 'byState', cond: '#st = :st', names: { '#st': 'state' }, values: { ':st': f.state![0] } };
      window('stateAt', q);
    }
    const { next, cut } = await drain(
      { IndexName: q.idx, KeyConditionExpression: q.cond, names: q.names, values: q.values },
      cursor.key,
      f.limit,
    );
    let jobs = out.map(toJob);
    if (f.state && (f.pilotId || f.workflowId)) jobs = jobs.filter((j) => f.state!.includes(j.state));
    const resume = next ?? cut;
    return {
      jobs,
      nextCursor: resume ? encodeCursor({ key: resume }) : undefined,
      searchedBackTo: cut ? timeOf(cut, q.idx) : undefined,
    };
  }

  if (f.state && f.state.length > 1) {
    // Several states: merge one page of each, newest first (no cursor beyond the first page),
    // each read in parallel on its share of the budget. When a state's listing ran out of it, the answer keeps only what is
    // complete in every state: jobs that entered their state after the latest point reached.
    const shares = budget.split(f.state.length);
    const pages = await Promise.all(
      f.state.map((s, i) => listJobs({ ...f, state: [s], cursor: undefined }, shares[i])),
    );
    const reached = pages
      .map((p) => p.searchedBackTo)
      .filter((t): t is string => t !== undefined)
      .sort()
      .pop();
    const jobs = pages
      .flatMap((p) => p.jobs)
      .filter((j) => !reached || j.stateAt >= reached)
      .sort((a, b) => b.stateAt.localeCompare(a.stateAt))
      .slice(0, f.limit);
    return { jobs, searchedBackTo: reached };
  }

  // No state: walk creation days backwards from `until` (or today) to `since`, within the
  // retention window (older live jobs are listed by state).
  const { firstDay, lastDay } = dayRange(
    { since: f.since, until: f.until, cursorDay: cursor.day },
    config().P3S_RETENTION_DAYS + 1,
  );
  let day = lastDay;
  let startKey = cursor.key;
  while (day >= firstDay) {
    const q = {
      cond: 'lpk = :lpk',
      names: {} as Record<string, string>,
      values: { ':lpk': dayPartition('job', day) } as Record<string, unknown>,
    };
    window('createdAt', q);
    const { next, cut } = await drain(
      { IndexName: 'list', KeyConditionExpression: q.cond, names: q.names, values: q.values },
      startKey,
      f.limit,
    );
    if (out.length >= f.limit) {
      const nextDay = next ? day : prevDay(day);
      const more = next || nextDay >= firstDay;
      return {
        jobs: out.map(toJob),
        nextCursor: more ? encodeCursor({ day: nextDay, key: next }) : undefined,
      };
    }
    if (cut)
      return {
        jobs: out.map(toJob),
        nextCursor: encodeCursor({ day, key: cut }),
        searchedBackTo: timeOf(cut, 'list'),
      };
    startKey = undefined;
    const walked = day;
    day = prevDay(day);
    if (budget.spent && day >= firstDay)
      return {
        jobs: out.map(toJob),
        nextCursor: encodeCursor({ day }),
        searchedBackTo: dayStart(walked, f.since),
      };
  }
  return { jobs: out.map(toJob) };
}

function keyOf(item: Record<string, unknown>, index: string): Record<string, unknown> {
  const k: Record<string, unknown> = { id: item.id };
  const idx: Record<string, [string, string]> = {
    byState: ['state', 'stateAt'],
    list: ['lpk', 'createdAt'],
    byPilot: ['pilotId', 'dispatchedAt'],
    byWorkflow: ['workflowId', 'vertex'],
  };
  for (const a of idx[index] ?? []) k[a] = item[a];
  return k;
}

/** Deletes an ended (or never-run template/queued) job record; in-flight jobs must be killed first. */
export async function deleteJob(id: string): Promise<void> {
  try {
    await db().send(
      new DeleteCommand({
        TableName: table(),
        Key: { id },
        ConditionExpression: 'attribute_exists(id) AND NOT (#s IN (:d, :r))',
        ExpressionAttributeNames: { '#s': 'state' },
        ExpressionAttributeValues: { ':d': 'dispatched', ':r': 'running' },
      }),
    );
  } catch (err) {
    if (!isConditionFailed(err)) throw err;
    const item = await getJobItem(id);
    if (!item) throw new NotFoundError('job', id);
    throw new ConflictError(`job ${id} is ${String(item.state)}: kill it before deleting it`);
  }
}

/** TTL for ended jobs, so DynamoDB purges them after the retention period. */
export const endedTtl = () => ttlAfterDays(config().P3S_RETENTION_DAYS);
