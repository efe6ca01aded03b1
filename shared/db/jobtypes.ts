import { ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { tableName } from '../config.ts';
import { queuePartition } from '../core/job/job.ts';
import type { Jobtype, JobtypeSettings } from '../core/jobtype/jobtype.ts';
import { log } from '../log.ts';
import { batchGet } from './batch.ts';
import { db } from './client.ts';
import { isConditionFailed } from './conditions.ts';
import { JOBTYPE_FIELDS, pick } from './items.ts';

const table = () => tableName('jobtypes');

export async function listJobtypes(): Promise<Jobtype[]> {
  const out: Jobtype[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const r = await db().send(new ScanCommand({ TableName: table(), ExclusiveStartKey: start }));
    out.push(...(r.Items ?? []).map((it) => pick(JOBTYPE_FIELDS, it)));
    start = r.LastEvaluatedKey;
  } while (start);
  const types = out
    .map((t) => ({ ...t, inFlight: t.inFlight ?? 0 }))
    .sort((a, b) => a.name.localeCompare(b.name));
  cache = { at: Date.now(), types: new Map(types.map((t) => [t.name, t])) };
  return types;
}

let cache: { at: number; types: Map<string, Jobtype> } | undefined;

/**
 * Every job type, from a per-container copy at most `maxAgeMs` old (one small Scan when older).
 * For the claim's choice of partitions: a stale copy costs at most a failed claim on a full type,
 * or a pilot going idle while a slot just freed — and a freed slot always starts a matchmaker
 * round, which reads the table fresh.
 */
export async function cachedJobtypes(maxAgeMs = 1000): Promise<Map<string, Jobtype>> {
  if (!cache || Date.now() - cache.at > maxAgeMs) {
    // One Scan at a time: concurrent requests that find the copy old share it.
    refreshing ??= listJobtypes().finally(() => (refreshing = undefined));
    await refreshing;
  }
  return cache!.types;
}
let refreshing: Promise<unknown> | undefined;

/** Remembers, in this container's copy, that a claim found `type` at its cap. */
export function noteTypeFull(type: string): void {
  const t = cache?.types.get(type);
  if (t && t.limit !== undefined) t.inFlight = Math.max(t.inFlight, t.limit);
}

/** Counts, in this container's copy, a slot this container just gave back (a counted job ended). */
export function noteSlotFreed(type: string): void {
  const t = cache?.types.get(type);
  if (t && t.inFlight > 0) t.inFlight -= 1;
}

/** Counts, in this container's copy, a claim this container just made. */
export function noteClaimed(type: string): void {
  const t = cache?.types.get(type);
  if (t) t.inFlight += 1;
}

/** The queue partition of a job of `type` (own partitions for types that have had a cap). */
export async function partitionOf(type: string, site: string | undefined): Promise<string> {
  const t = (await cachedJobtypes(5000)).get(type);
  return queuePartition(site, t?.ownQueue ? type : undefined);
}

/** Job types by name (missing ones are absent from the map). */
export async function getJobtypes(names: string[]): Promise<Map<string, Jobtype>> {
  const items = await batchGet(
    table(),
    [...new Set(names)].map((name) => ({ name })),
  );
  return new Map(items.map((it) => [String(it.name), pick(JOBTYPE_FIELDS, it)]));
}

/**
 * Sets a job type's cap, default priority, deadline or sampling; `null` removes a setting.
 * `inFlight` is initialised so the claim's `inFlight < limit` condition can be evaluated.
 */
export async function setJobtype(name: string, s: JobtypeSettings): Promise<Jobtype> {
  const set: string[] = ['inFlight = if_not_exists(inFlight, :zero)'];
  // The first cap moves the type to queue partitions of its own (kept afterwards, even when the
  // cap is removed, so no job can ever be left in a partition nobody reads).
  const capping = typeof s.limit === 'number';
  if (capping) {
    await db()
      .send(
        new UpdateCommand({
          TableName: table(),
          Key: { name },
          UpdateExpression: 'SET ownQueue = :true, migrating = :true',
          ConditionExpression: 'attribute_not_exists(ownQueue)',
          ExpressionAttributeValues: { ':true': true },
        }),
      )
      .catch((err) => {
        if (!isConditionFailed(err)) throw err;
      });
    // A cap on a type that had none: its jobs in flight were claimed without taking a slot, and
    // must be counted before any claim of it may succeed (job-transitions.ts countInFlight).
    await db()
      .send(
        new UpdateCommand({
          TableName: table(),
          Key: { name },
          UpdateExpression: 'SET converting = :true',
          ConditionExpression: 'attribute_not_exists(#limit)',
          ExpressionAttributeNames: { '#limit': 'limit' },
          ExpressionAttributeValues: { ':true': true },
        }),
      )
      .catch((err) => {
        if (!isConditionFailed(err)) throw err;
      });
  }
  const remove: string[] = [];
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = { ':zero': 0 };
  for (const [k, v] of Object.entries(s)) {
    if (v === undefined) continue;
    names[`#${k}`] = k;
    if (v === null) remove.push(`#${k}`);
    else {
      set.push(`#${k} = :${k}`);
      values[`:${k}`] = v;
    }
  }
  const r = await db().send(
    new UpdateCommand({
      TableName: table(),
      Key: { name },
      UpdateExpression: `SET ${set.join(', ')}${remove.length ? ` REMOVE ${remove.join(', ')}` : ''}`,
      ExpressionAttributeNames: Object.keys(names).length ? names : undefined,
      ExpressionAttributeValues: values,
      ReturnValues: 'ALL_NEW',
    }),
  );
  const t = pick(JOBTYPE_FIELDS, r.Attributes!);
  cache?.types.set(t.name, { ...t, inFlight: t.inFlight ?? 0 });
  return t;
}

/**
 * The type's queued jobs are all in its own partitions now, and (`converting` too) its jobs in
 * flight are all counted (job-transitions.ts migrateToOwnQueue, countInFlight).
 */
export async function clearMigrating(type: string, converting = false): Promise<void> {
  await db()
    .send(
      new UpdateCommand({
        TableName: table(),
        Key: { name: type },
        UpdateExpression: converting ? 'REMOVE migrating, converting' : 'REMOVE migrating',
      }),
    )
    .catch((err) => log.warn('could not clear migrating', { type, err: String(err) }));
}

/** A job type's in-flight counter and its change count, as the sweeper reads them. */
export interface InFlightSeen {
  name: string;
  inFlight?: number;
  /** How many claims and ends have changed `inFlight` (job-transitions.ts adds one in each). */
  inFlightOps?: number;
}

/** Every job type's counter, read consistently (a small table: one Scan page in practice). */
export async function inFlightCounters(): Promise<InFlightSeen[]> {
  const out: InFlightSeen[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const r = await db().send(
      new ScanCommand({
        TableName: table(),
        ConsistentRead: true,
        ProjectionExpression: '#n, inFlight, inFlightOps',
        ExpressionAttributeNames: { '#n': 'name' },
        ExclusiveStartKey: start,
      }),
    );
    out.push(...((r.Items ?? []) as InFlightSeen[]));
    start = r.LastEvaluatedKey;
  } while (start);
  return out;
}

/**
 * The sweeper's repair of a drifted counter: sets `inFlight` to `count` (the jobs of the type
 * found dispatched or running) only if no claim or end has touched it since `seen` was read —
 * conditioned on the op counter and the value seen, so a claim or an end racing the recount
 * makes it change nothing (it is tried again at the next sweep). The recount counts as an op
 * itself, so two recounts from the same reading cannot both apply. False when it lost.
 */
export async function recountInFlight(seen: InFlightSeen, count: number): Promise<boolean> {
  const names: Record<string, string> = { '#n': 'name' };
  const values: Record<string, unknown> = { ':count': count, ':one': 1 };
  const conds = ['attribute_exists(#n)'];
  if (seen.inFlightOps === undefined) conds.push('attribute_not_exists(inFlightOps)');
  else {
    conds.push('inFlightOps = :ops');
    values[':ops'] = seen.inFlightOps;
  }
  if (seen.inFlight === undefined) conds.push('attribute_not_exists(inFlight)');
  else {
    conds.push('inFlight = :seen');
    values[':seen'] = seen.inFlight;
  }
  try {
    await db().send(
      new UpdateCommand({
        TableName: table(),
        Key: { name: seen.name },
        UpdateExpression: 'SET inFlight = :count ADD inFlightOps :one',
        ConditionExpression: conds.join(' AND '),
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      }),
    );
    return true;
  } catch (err) {
    if (isConditionFailed(err)) return false;
    throw err;
  }
}
