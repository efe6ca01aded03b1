import {
  GetCommand,
  PutCommand,
  QueryCommand,
  type TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import { config, tableName } from '../config.ts';
import { hashSecret, secretMatches } from '../core/auth/token.ts';
import { ConflictError, ForbiddenError, NotFoundError } from '../core/errors.ts';
import { PILOT_ENDED, type Pilot, type PilotRegistration, PilotState } from '../core/pilot/pilot.ts';
import { Lru } from '../core/util/lru.ts';
import { nowIso, ttlAfterDays } from '../core/util/time.ts';
import { pilotKey, wakeups } from '../wakeups.ts';
import { batchGet } from './batch.ts';
import { db, quietly } from './client.ts';
import { isConditionFailed } from './conditions.ts';
import { dayPartition, toPilot } from './items.ts';

const table = () => tableName('pilots');
/**
 * The sparse `idle` index (pilots holding a poll open) is spread over IDLE_SHARDS partitions
 * `IDLE#<k>` by pilot id, so 10,000 long-polling pilots (500 holds/s, each a delete and a put in
 * the index) stay well under a partition's 1,000 writes/s (docs/cost-model.md, "Hot keys").
 */
const IDLE_SHARDS = 4;
const idlePartition = (id: string) => `IDLE#${Number.parseInt(id.slice(0, 1), 16) % IDLE_SHARDS || 0}`;
/**
 * Live (not ended) pilots carry `lvpk` = `L#<shard>` and so appear in the sparse `live` index: the
 * reaper and the monitor read only live pilots, never the ended ones kept until their TTL. The
 * shards spread index writes (a heartbeat rewrites the index entry) over several partitions.
 */
const LIVE_SHARDS = 4;
const livePartition = (id: string) => `L#${Number.parseInt(id.slice(0, 1), 16) % LIVE_SHARDS || 0}`;

/**
 * A pilot as stored, parsed at the boundary (`parsePilot` on every read of the pilots table);
 * the rest of the item is kept as it is and leaves only through the explicit answer fields
 * (`toPilot`). Internal attributes: `keyHash`, `ipk`/`isk` (idle index), `lvpk` (live index),
 * `lpk` (listing), `ttl`, `killJobId`.
 */
const PilotRecord = z.looseObject({
  id: z.string(),
  state: PilotState,
  keyHash: z.string(),
  host: z.string(),
  site: z.string().optional(),
  jobId: z.string().optional(),
  /** Type of the job it holds (set by the claim), so ending the job needs no read of it. */
  jobtype: z.string().optional(),
  killJobId: z.string().optional(),
  drain: z.boolean().optional(),
  kill: z.boolean().optional(),
  lastSeenAt: z.string(),
  idleSince: z.string().optional(),
  /** End of the poll the pilot holds open (ISO); only a pilot holding a poll is handed a job. */
  holdUntil: z.string().optional(),
  /** Paced polling: when the pilot was told to poll again (its silence until then is expected). */
  nextPollBy: z.string().optional(),
  isk: z.string().optional(),
  /** The job it holds took a cap slot: its end gives it back. */
  counted: z.boolean().optional(),
});
export type PilotItem = z.infer<typeof PilotRecord>;

/** An item of the pilots table (or of one of its indexes) as a PilotRecord. */
const parsePilot = (item: Record<string, unknown>): PilotItem => PilotRecord.parse(item);

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
    lpk: dayPartition('pilot', now),
    lvpk: livePartition(reg.id),
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
  return r.Item ? parsePilot(r.Item) : undefined;
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
  keyHashes.set(id, it.keyHash);
  return it;
}

/** Key hashes of the pilots this container has authorised (a pilot's key never changes). */
const keyHashes = new Lru<string, string>(20_000);

/**
 * Checks a pilot-token request's key without reading the pilot's item when this container has
 * checked that pilot before: for the reports whose own conditional write says everything else
 * (jobstart, heartbeat). Returns the item when it had to be read.
 */
export async function authorisePilotKey(
  id: string,
  key: string | undefined,
  role: string,
): Promise<PilotItem | undefined> {
  const hash = keyHashes.get(id);
  if (hash === undefined || (role === 'admin' && key === undefined)) return authorisePilot(id, key, role);
  if (!key || !secretMatches(key, hash)) throw new ForbiddenError(`the pilot key does not match pilot ${id}`);
  return undefined;
}

/**
 * Marks a pilot idle (state `waiting`, keeping its original idle time) for a poll it holds open
 * `holdMs`: while the hold lasts it is in the sparse `idle` index, keyed by the hold's end, so
 * the matchmaker hands jobs only to pilots whose poll is live, latest hold first. A pilot that
 * does not hold its poll (`holdMs` 0) is waiting but not in the index: it takes work itself when
 * it polls. Fails (returns undefined) if the pilot got a job, a drain or a kill meanwhile.
 */
export async function markWaiting(
  p: PilotItem,
  holdMs: number,
  nextPollMs = 0,
): Promise<PilotItem | undefined> {
  const nowMs = Date.now();
  const now = new Date(nowMs).toISOString();
  const idleSince = p.state === 'waiting' && p.idleSince ? p.idleSince : now;
  const values: Record<string, unknown> = {
    ':w': 'waiting',
    ':active': 'active',
    ':since': idleSince,
    ':now': now,
  };
  let update = 'SET #s = :w, idleSince = :since, lastSeenAt = :now, stateAt = if_not_exists(stateAt, :now)';
  if (holdMs > 0) {
    const until = new Date(nowMs + holdMs).toISOString();
    update += ', ipk = :ipk, isk = :isk, holdUntil = :until';
    Object.assign(values, { ':ipk': idlePartition(p.id), ':isk': `${until}#${p.id}`, ':until': until });
  } else if (nextPollMs > 0) {
    // Paced: the pilot was told when to come back; until then its silence is expected.
    update += ', nextPollBy = :next REMOVE ipk, isk, holdUntil';
    values[':next'] = new Date(nowMs + nextPollMs).toISOString();
  } else update += ' REMOVE ipk, isk, holdUntil';
  // A pilot already waiting changes no state a stream consumer looks at.
  const send = p.state === 'waiting' ? quietly : <T>(f: () => Promise<T>) => f();
  try {
    const r = await send(() =>
      db().send(
        new UpdateCommand({
          TableName: table(),
          Key: { id: p.id },
          UpdateExpression: update,
          ConditionExpression:
            '#s IN (:active, :w) AND attribute_not_exists(jobId) AND attribute_not_exists(drain) AND attribute_not_exists(#k)',
          ExpressionAttributeNames: { '#s': 'state', '#k': 'kill' },
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      ),
    );
    return parsePilot(r.Attributes!);
  } catch (err) {
    if (isConditionFailed(err)) return undefined;
    throw err;
  }
}

/**
 * Takes a pilot out of the idle index when the poll it held is gone (its connection closed: the
 * pilot died or gave up), so no job is handed to it. Only the hold that `isk` names is ended.
 */
export async function leaveIdle(id: string, isk: string): Promise<void> {
  try {
    await db().send(
      new UpdateCommand({
        TableName: table(),
        Key: { id },
        UpdateExpression: 'REMOVE ipk, isk, holdUntil',
        ConditionExpression: 'isk = :isk',
        ExpressionAttributeValues: { ':isk': isk },
      }),
    );
  } catch (err) {
    if (!isConditionFailed(err)) throw err;
  }
}

/** An entry of the `idle` index: what the matchmaker needs to hand a pilot a job. */
export const IdleEntry = z.object({
  id: z.string(),
  host: z.string(),
  site: z.string().optional(),
  isk: z.string(),
});
export type IdleEntry = z.infer<typeof IdleEntry>;

/** Pilots holding a poll that lasts beyond `liveAfterIso`, latest hold first (every shard, merged). */
export async function idlePilots(limit: number, liveAfterIso: string): Promise<IdleEntry[]> {
  const pages = await Promise.all(
    Array.from({ length: IDLE_SHARDS }, (_, k) =>
      db().send(
        new QueryCommand({
          TableName: table(),
          IndexName: 'idle',
          KeyConditionExpression: 'ipk = :ipk AND isk > :after',
          ExpressionAttributeValues: { ':ipk': `IDLE#${k}`, ':after': liveAfterIso },
          ScanIndexForward: false,
          // Pilot ids spread evenly over the shards: a share of the limit from each (with some
          // slack) is about `limit` in all, not IDLE_SHARDS × limit.
          Limit: Math.ceil(limit / IDLE_SHARDS) + 8,
        }),
      ),
    ),
  );
  return pages
    .flatMap((r) => (r.Items ?? []).map((it) => IdleEntry.parse(it)))
    .sort((a, b) => b.isk.localeCompare(a.isk))
    .slice(0, limit);
}

/** Refreshes a pilot's liveness and returns its flags (drain, kill, job to kill). */
export async function touchPilot(id: string, runningJobId?: string): Promise<PilotItem> {
  const values: Record<string, unknown> = {
    ':now': nowIso(),
    ':st': 'stopped',
    ':to': 'timeout',
    ':k': 'killed',
  };
  let update = 'SET lastSeenAt = :now';
  let cond = 'attribute_exists(id) AND NOT (#s IN (:st, :to, :k))';
  if (runningJobId) {
    // The first heartbeat of a job: the pilot is running it (jobstart does not write the pilot).
    update += ', #s = :running';
    cond += ' AND jobId = :jid';
    Object.assign(values, { ':running': 'running', ':jid': runningJobId });
  }
  // A plain sign of life changes no state a stream consumer looks at.
  const send = runningJobId ? <T>(f: () => Promise<T>) => f() : quietly;
  try {
    const r = await send(() =>
      db().send(
        new UpdateCommand({
          TableName: table(),
          Key: { id },
          UpdateExpression: update,
          ConditionExpression: cond,
          ExpressionAttributeNames: { '#s': 'state' },
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      ),
    );
    return parsePilot(r.Attributes!);
  } catch (err) {
    if (isConditionFailed(err)) {
      if (runningJobId) return touchPilot(id); // no longer holds that job: a plain sign of life
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
        UpdateExpression:
          'SET #s = :state, stateAt = :now, endedAt = :now, #ttl = :ttl REMOVE ipk, isk, holdUntil, lvpk',
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

/**
 * Live pilots (not stopped/timeout/killed): their ids from the sparse, keys-only `live` index
 * (ended pilots are never read; heartbeats never rewrite the index), then their items by key.
 */
export async function livePilots(): Promise<PilotItem[]> {
  const ids = await livePilotIds();
  const out = (
    await batchGet(
      table(),
      ids.map((id) => ({ id })),
      { consistent: true },
    )
  ).map(parsePilot);
  // The index is eventually consistent on AWS: an item just ended may still be listed.
  return out.filter((p) => !PILOT_ENDED.has(p.state));
}

/** Ids of the live pilots (the `live` index, every shard). */
async function livePilotIds(): Promise<string[]> {
  const shards = Array.from({ length: LIVE_SHARDS }, (_, i) => `L#${i}`);
  const pages = await Promise.all(
    shards.map(async (lvpk) => {
      const out: string[] = [];
      let start: Record<string, unknown> | undefined;
      do {
        const r = await db().send(
          new QueryCommand({
            TableName: table(),
            IndexName: 'live',
            KeyConditionExpression: 'lvpk = :p',
            ExpressionAttributeValues: { ':p': lvpk },
            ExclusiveStartKey: start,
          }),
        );
        for (const it of r.Items ?? []) out.push(String(it.id));
        start = r.LastEvaluatedKey;
      } while (start);
      return out;
    }),
  );
  return pages.flat();
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
          UpdateExpression: `SET #f = :true REMOVE ipk, isk, holdUntil`,
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
  // Newest registrations first, day by day (the pilots table is kept small by TTL purge). The
  // `list` index holds the keys, host and site (which never change, so heartbeats do not rewrite
  // it): a page's pilots are then read by key, and filtered by state.
  const out: Pilot[] = [];
  const days = config().P3S_RETENTION_DAYS + 1;
  for (let d = 0; d <= days && out.length < f.limit; d++) {
    const day = new Date(Date.now() - d * 86400_000).toISOString().slice(0, 10);
    let start: Record<string, unknown> | undefined;
    do {
      const values: Record<string, unknown> = { ':lpk': dayPartition('pilot', day) };
      if (f.site) values[':site'] = f.site;
      const r = await db().send(
        new QueryCommand({
          TableName: table(),
          IndexName: 'list',
          KeyConditionExpression: 'lpk = :lpk',
          FilterExpression: f.site ? 'site = :site' : undefined,
          ExpressionAttributeValues: values,
          ScanIndexForward: false,
          Limit: Math.max(f.limit - out.length, 1) * (f.state ? 4 : 1),
          ExclusiveStartKey: start,
        }),
      );
      const page = r.Items ?? [];
      const items = new Map(
        (
          await batchGet(
            table(),
            page.map((it) => ({ id: it.id })),
          )
        ).map((it) => [String(it.id), it]),
      );
      for (const it of page) {
        const p = items.get(String(it.id));
        if (p && (!f.state || p.state === f.state) && out.length < f.limit) out.push(toPilot(p));
      }
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
        UpdateExpression: 'SET #s = :active, stateAt = :now REMOVE jobId, jobtype, killJobId, counted',
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

/** One item of a TransactWriteItems call. */
export type TransactItem = NonNullable<
  ConstructorParameters<typeof TransactWriteCommand>[0]['TransactItems']
>[number];

/**
 * The pilot's part of a job's end, for the same transaction: `free` gives it back its slot
 * (`active`, ready to poll again); `timeout`/`stopped`/`killed` end it. Conditioned on the pilot
 * still holding `jobId` (and, for the reaper, on not having been seen since `lastSeenAt`).
 * `seen`: the pilot itself reported (refreshes its liveness; nothing else ever does).
 */
export function pilotAfterJob(
  pilotId: string,
  jobId: string,
  then: 'free' | 'timeout' | 'stopped' | 'killed',
  opts: { seen?: boolean; lastSeenAt?: string } = {},
): TransactItem {
  const now = nowIso();
  const names: Record<string, string> = { '#s': 'state' };
  const values: Record<string, unknown> = {
    ':now': now,
    ':jid': jobId,
    ':st': 'stopped',
    ':to': 'timeout',
    ':k': 'killed',
  };
  let cond = 'jobId = :jid AND NOT (#s IN (:st, :to, :k))';
  if (opts.lastSeenAt) {
    cond += ' AND lastSeenAt = :seen';
    values[':seen'] = opts.lastSeenAt;
  }
  let update: string;
  if (then === 'free') {
    update = `SET #s = :active, stateAt = :now${opts.seen ? ', lastSeenAt = :now' : ''} ADD jobcount :one REMOVE jobId, jobtype, killJobId, counted`;
    Object.assign(values, { ':active': 'active', ':one': 1 });
  } else {
    update =
      'SET #s = :end, stateAt = :now, endedAt = :now, #ttl = :ttl REMOVE jobId, jobtype, killJobId, counted, ipk, isk, holdUntil, lvpk';
    names['#ttl'] = 'ttl';
    Object.assign(values, { ':end': then, ':ttl': ttlAfterDays(config().P3S_RETENTION_DAYS) });
  }
  return {
    Update: {
      TableName: table(),
      Key: { id: pilotId },
      UpdateExpression: update,
      ConditionExpression: cond,
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
    },
  };
}
