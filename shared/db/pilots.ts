import { GetCommand, PutCommand, QueryCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { config, tableName } from '../config.ts';
import { hashSecret, secretMatches } from '../core/auth/token.ts';
import { ConflictError, ForbiddenError, NotFoundError } from '../core/errors.ts';
import { PILOT_ENDED, type Pilot, type PilotRegistration, type PilotState } from '../core/pilot/pilot.ts';
import { nowIso, ttlAfterDays } from '../core/util/time.ts';
import { pilotKey, wakeups } from '../wakeups.ts';
import { db } from './client.ts';
import { isConditionFailed } from './conditions.ts';
import { dayPartition, toPilot } from './items.ts';

const table = () => tableName('pilots');
export const IDLE_PARTITION = 'IDLE';

export type PilotItem = Record<string, unknown> & {
  id: string;
  state: PilotState;
  keyHash: string;
  jobId?: string;
  /** Type of the job it holds (set by the claim), so ending the job needs no read of it. */
  jobtype?: string;
  killJobId?: string;
  drain?: boolean;
  kill?: boolean;
  site?: string;
  host: string;
  lastSeenAt: string;
  idleSince?: string;
};

/** Registers a pilot; idempotent for the same id and key, 409 for the same id with another key. */
export async function registerPilot(reg: PilotRegistration): Promise<{ pilot: Pilot; created: boolean }> {
  const now = nowIso();
  const item = {
    id: reg.id,
    keyHash: hashSecret(reg.key),
    host: reg.host,
    site: reg.site,
    pid: reg.pid,
    extra: reg.extra,
    version: reg.version,
    resources: reg.resources,
    state: 'active' as PilotState,
    jobcount: 0,
    registeredAt: now,
    lastSeenAt: now,
    stateAt: now,
    lpk: dayPartition('P', now),
  };
  try {
    await db().send(
      new PutCommand({ TableName: table(), Item: item, ConditionExpression: 'attribute_not_exists(id)' }),
    );
    return { pilot: toPilot(item), created: true };
  } catch (err) {
    if (!isConditionFailed(err)) throw err;
    const existing = await getPilotItem(reg.id);
    if (!existing || !secretMatches(reg.key, existing.keyHash)) {
      throw new ConflictError(`pilot ${reg.id} is already registered with another key`);
    }
    return { pilot: toPilot(existing), created: false };
  }
}

export async function getPilotItem(id: string): Promise<PilotItem | undefined> {
  const r = await db().send(new GetCommand({ TableName: table(), Key: { id }, ConsistentRead: true }));
  return r.Item as PilotItem | undefined;
}

export async function getPilot(id: string): Promise<Pilot> {
  const it = await getPilotItem(id);
  if (!it) throw new NotFoundError('pilot', id);
  return toPilot(it);
}

/**
 * Loads a pilot for a pilot-token request and checks its key: a pilot token can only act as the
 * pilot whose key it presents. (Admins may act without a key, for tests and repairs.)
 */
export async function authorisePilot(id: string, key: string | undefined, role: string): Promise<PilotItem> {
  const it = await getPilotItem(id);
  if (!it) throw new NotFoundError('pilot', id);
  if (role === 'admin' && key === undefined) return it;
  if (!key || !secretMatches(key, it.keyHash))
    throw new ForbiddenError(`the pilot key does not match pilot ${id}`);
  return it;
}

/**
 * Puts a pilot in the idle index (state `waiting`), keeping its original idle time so the
 * longest-idle pilot is served first. Fails (returns undefined) if the pilot got a job meanwhile.
 */
export async function markWaiting(p: PilotItem): Promise<PilotItem | undefined> {
  const now = nowIso();
  const idleSince = p.state === 'waiting' && p.idleSince ? p.idleSince : now;
  try {
    const r = await db().send(
      new UpdateCommand({
        TableName: table(),
        Key: { id: p.id },
        UpdateExpression:
          'SET #s = :w, ipk = :ipk, isk = :isk, idleSince = :since, lastSeenAt = :now, stateAt = if_not_exists(stateAt, :now)',
        ConditionExpression:
          '#s IN (:active, :w) AND attribute_not_exists(jobId) AND attribute_not_exists(drain) AND attribute_not_exists(#k)',
        ExpressionAttributeNames: { '#s': 'state', '#k': 'kill' },
        ExpressionAttributeValues: {
          ':w': 'waiting',
          ':active': 'active',
          ':ipk': IDLE_PARTITION,
          ':isk': `${idleSince}#${p.id}`,
          ':since': idleSince,
          ':now': now,
        },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return r.Attributes as PilotItem;
  } catch (err) {
    if (isConditionFailed(err)) return undefined;
    throw err;
  }
}

/** Idle pilots, longest idle first. */
export async function idlePilots(limit: number): Promise<PilotItem[]> {
  const r = await db().send(
    new QueryCommand({
      TableName: table(),
      IndexName: 'idle',
      KeyConditionExpression: 'ipk = :ipk',
      ExpressionAttributeValues: { ':ipk': IDLE_PARTITION },
      Limit: limit,
    }),
  );
  return (r.Items ?? []) as PilotItem[];
}

/** Refreshes a pilot's liveness and returns its flags (drain, kill, job to kill). */
export async function touchPilot(id: string): Promise<PilotItem> {
  try {
    const r = await db().send(
      new UpdateCommand({
        TableName: table(),
        Key: { id },
        UpdateExpression: 'SET lastSeenAt = :now',
        ConditionExpression: 'attribute_exists(id) AND NOT (#s IN (:st, :to, :k))',
        ExpressionAttributeNames: { '#s': 'state' },
        ExpressionAttributeValues: { ':now': nowIso(), ':st': 'stopped', ':to': 'timeout', ':k': 'killed' },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return r.Attributes as PilotItem;
  } catch (err) {
    if (isConditionFailed(err)) {
      const it = await getPilotItem(id);
      if (!it) throw new NotFoundError('pilot', id);
      throw new ConflictError(`pilot ${id} is ${it.state}`);
    }
    throw err;
  }
}

/** Ends a pilot (stopped by itself, timeout by the reaper, killed when it acknowledged a kill). */
export async function endPilot(
  id: string,
  state: 'stopped' | 'timeout' | 'killed',
  expect?: { lastSeenAt?: string },
): Promise<boolean> {
  const now = nowIso();
  const values: Record<string, unknown> = {
    ':state': state,
    ':now': now,
    ':ttl': ttlAfterDays(config().P3S_RETENTION_DAYS),
  };
  let cond = 'attribute_exists(id) AND NOT (#s IN (:st, :to, :k))';
  Object.assign(values, { ':st': 'stopped', ':to': 'timeout', ':k': 'killed' });
  if (expect?.lastSeenAt) {
    cond += ' AND lastSeenAt = :seen';
    values[':seen'] = expect.lastSeenAt;
  }
  try {
    await db().send(
      new UpdateCommand({
        TableName: table(),
        Key: { id },
        UpdateExpression: 'SET #s = :state, stateAt = :now, endedAt = :now, #ttl = :ttl REMOVE ipk, isk',
        ConditionExpression: cond,
        ExpressionAttributeNames: { '#s': 'state', '#ttl': 'ttl' },
        ExpressionAttributeValues: values,
      }),
    );
    wakeups().notify(pilotKey(id));
    return true;
  } catch (err) {
    if (isConditionFailed(err)) return false;
    throw err;
  }
}

export interface PilotSelector {
  id?: string;
  host?: string;
  site?: string;
}

/** Live pilots (not stopped/timeout/killed). A scan with a filter: the pilots table is small (TTL purge). */
export async function livePilots(): Promise<PilotItem[]> {
  const out: PilotItem[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const r = await db().send(
      new ScanCommand({
        TableName: table(),
        FilterExpression: 'NOT (#s IN (:st, :to, :k))',
        ExpressionAttributeNames: { '#s': 'state' },
        ExpressionAttributeValues: { ':st': 'stopped', ':to': 'timeout', ':k': 'killed' },
        ExclusiveStartKey: start,
      }),
    );
    out.push(...((r.Items ?? []) as PilotItem[]));
    start = r.LastEvaluatedKey;
  } while (start);
  return out;
}

/**
 * Asks pilots to drain (finish the current payload, then stop) or to be killed (kill the payload
 * and stop). Idle pilots are woken so a held poll answers at once.
 */
export async function flagPilots(sel: PilotSelector, mode: 'drain' | 'kill'): Promise<string[]> {
  const targets = sel.id
    ? [await getPilotItem(sel.id)].filter((p): p is PilotItem => Boolean(p && !PILOT_ENDED.has(p.state)))
    : await livePilots();
  const chosen = targets.filter(
    (p) => (!sel.host || p.host === sel.host) && (!sel.site || p.site === sel.site),
  );
  const done: string[] = [];
  for (const p of chosen) {
    try {
      await db().send(
        new UpdateCommand({
          TableName: table(),
          Key: { id: p.id },
          UpdateExpression: `SET #f = :true REMOVE ipk, isk`,
          ConditionExpression: 'NOT (#s IN (:st, :to, :k))',
          ExpressionAttributeNames: { '#f': mode, '#s': 'state' },
          ExpressionAttributeValues: { ':true': true, ':st': 'stopped', ':to': 'timeout', ':k': 'killed' },
        }),
      );
      done.push(p.id);
      wakeups().notify(pilotKey(p.id));
    } catch (err) {
      if (!isConditionFailed(err)) throw err;
    }
  }
  return done;
}

export async function listPilots(f: { state?: PilotState; site?: string; limit: number }): Promise<Pilot[]> {
  // Newest registrations first, day by day (the pilots table is kept small by TTL purge).
  const out: Pilot[] = [];
  const days = config().P3S_RETENTION_DAYS + 1;
  for (let d = 0; d <= days && out.length < f.limit; d++) {
    const day = new Date(Date.now() - d * 86400_000).toISOString().slice(0, 10);
    let start: Record<string, unknown> | undefined;
    do {
      const names: Record<string, string> = {};
      const values: Record<string, unknown> = { ':lpk': `P#${day}` };
      const filters: string[] = [];
      if (f.state) {
        names['#s'] = 'state';
        values[':s'] = f.state;
        filters.push('#s = :s');
      }
      if (f.site) {
        values[':site'] = f.site;
        filters.push('site = :site');
      }
      const r = await db().send(
        new QueryCommand({
          TableName: table(),
          IndexName: 'list',
          KeyConditionExpression: 'lpk = :lpk',
          FilterExpression: filters.length ? filters.join(' AND ') : undefined,
          ExpressionAttributeNames: Object.keys(names).length ? names : undefined,
          ExpressionAttributeValues: values,
          ScanIndexForward: false,
          ExclusiveStartKey: start,
        }),
      );
      for (const it of r.Items ?? []) if (out.length < f.limit) out.push(toPilot(it));
      start = out.length < f.limit ? r.LastEvaluatedKey : undefined;
    } while (start);
  }
  return out;
}

/** Frees a pilot whose job was ended by the server (not by its own report). */
export async function freePilot(pilotId: string, jobId: string): Promise<void> {
  try {
    await db().send(
      new UpdateCommand({
        TableName: table(),
        Key: { id: pilotId },
        UpdateExpression: 'SET #s = :active, stateAt = :now REMOVE jobId, jobtype, killJobId',
        ConditionExpression: 'jobId = :jid AND NOT (#s IN (:st, :to, :k))',
        ExpressionAttributeNames: { '#s': 'state' },
        ExpressionAttributeValues: {
          ':active': 'active',
          ':now': nowIso(),
          ':jid': jobId,
          ':st': 'stopped',
          ':to': 'timeout',
          ':k': 'killed',
        },
      }),
    );
  } catch (err) {
    if (!isConditionFailed(err)) throw err;
  }
}

/** Asks the pilot running `jobId` to kill it (seen with its next heartbeat). */
export async function requestJobKill(pilotId: string, jobId: string): Promise<void> {
  try {
    await db().send(
      new UpdateCommand({
        TableName: table(),
        Key: { id: pilotId },
        UpdateExpression: 'SET killJobId = :jid',
        ConditionExpression: 'jobId = :jid',
        ExpressionAttributeValues: { ':jid': jobId },
      }),
    );
  } catch (err) {
    if (!isConditionFailed(err)) throw err;
  }
}
