import { GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { config, tableName } from '../config.ts';
import type { Data, DataState, Trigger } from '../core/data/data.ts';
import type { Source } from '../core/data/location.ts';
import { NotFoundError } from '../core/errors.ts';
import { nowIso, ttlAfterDays } from '../core/util/time.ts';
import { db } from './client.ts';
import { isConditionFailed } from './conditions.ts';
import { listNewestByDay } from './cursor.ts';
import { DATA_FIELDS, dayPartition, LIST_PREFIX, pick } from './items.ts';

/**
 * Registered files. Key: `id` = hash of the normalised location (so registration is idempotent
 * by a conditional Put); listing by registration day through the `list` index (`lpk` = D#day).
 * A file whose rules are still running (`new`) is also in the sparse `pending` index (`ppk`,
 * ordered by `claimedAt`), where the sweeper finds registrations that died part-way.
 * Items expire after the retention period (TTL).
 */
const table = () => tableName('data');

/** The one partition of the `pending` index: only files still `new` carry it. */
const PENDING = 'new';

/** A file as the API shows it (never its index key, TTL or registration claim). */
const toData = (item: Record<string, unknown>): Data => pick(DATA_FIELDS, item);

/** What a registration stores about a new file (the rest is set here). */
export type NewData = Pick<
  Data,
  'id' | 'location' | 'name' | 'dirpath' | 'size' | 'datatype' | 'source' | 'comment' | 'user'
>;

/**
 * Inserts a file in state `new` (or directly in its `final` state when nothing is left to do)
 * unless its location is registered already. Returns the stored item, or undefined when it
 * existed (the caller then treats the announcement as a repeat).
 */
export async function insertData(
  d: NewData,
  nowMs = Date.now(),
  final?: { state: DataState; triggers: Trigger[] },
): Promise<Record<string, unknown> | undefined> {
  const now = nowIso(nowMs);
  const item: Record<string, unknown> = {
    ...d,
    state: final?.state ?? ('new' satisfies DataState),
    triggers: final?.triggers.length ? final.triggers : undefined,
    registeredAt: now,
    updatedAt: now,
    claimedAt: final ? undefined : now,
    ppk: final ? undefined : PENDING,
    announced: 1,
    lpk: dayPartition('data', now),
    ttl: ttlAfterDays(config().P3S_RETENTION_DAYS, nowMs),
  };
  try {
    await db().send(
      new PutCommand({ TableName: table(), Item: item, ConditionExpression: 'attribute_not_exists(id)' }),
    );
    return item;
  } catch (err) {
    if (isConditionFailed(err)) return undefined;
    throw err;
  }
}

/** Counts a repeated announcement on the existing item and returns it (undefined if it vanished). */
export async function noteAnnouncement(
  id: string,
  nowMs = Date.now(),
): Promise<Record<string, unknown> | undefined> {
  try {
    const r = await db().send(
      new UpdateCommand({
        TableName: table(),
        Key: { id },
        UpdateExpression: 'ADD announced :one SET lastAnnouncedAt = :now',
        ConditionExpression: 'attribute_exists(id)',
        ExpressionAttributeValues: { ':one': 1, ':now': nowIso(nowMs) },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return r.Attributes;
  } catch (err) {
    if (isConditionFailed(err)) return undefined;
    throw err;
  }
}

/**
 * Takes over a file stuck in `new` (its first registration died between the Put and the
 * triggers): succeeds for exactly one caller, conditioned on the claim time it saw, and returns
 * the item as taken over (undefined for every other caller).
 */
export async function reclaimData(
  id: string,
  seenClaimedAt: string,
  nowMs = Date.now(),
): Promise<Record<string, unknown> | undefined> {
  try {
    const r = await db().send(
      new UpdateCommand({
        TableName: table(),
        Key: { id },
        UpdateExpression: 'SET claimedAt = :now',
        ConditionExpression: '#s = :new AND claimedAt = :seen',
        ExpressionAttributeNames: { '#s': 'state' },
        ExpressionAttributeValues: { ':now': nowIso(nowMs), ':new': 'new', ':seen': seenClaimedAt },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return r.Attributes;
  } catch (err) {
    if (isConditionFailed(err)) return undefined;
    throw err;
  }
}

/**
 * Files whose registration began before `claimedBefore` and is still `new`, oldest claim first,
 * at most `limit` (one query of the sparse `pending` index: its size is the number of files
 * being registered right now, never the history).
 */
export async function pendingData(claimedBefore: string, limit: number): Promise<Record<string, unknown>[]> {
  const r = await db().send(
    new QueryCommand({
      TableName: table(),
      IndexName: 'pending',
      KeyConditionExpression: 'ppk = :p AND claimedAt < :t',
      ExpressionAttributeValues: { ':p': PENDING, ':t': claimedBefore },
      Limit: limit,
    }),
  );
  return r.Items ?? [];
}

/** Records what the file's rules did and its final state. */
export async function finishData(
  id: string,
  r: { state: DataState; triggers: Trigger[]; jobIds: string[] },
): Promise<Record<string, unknown>> {
  const values: Record<string, unknown> = { ':s': r.state, ':t': r.triggers, ':now': nowIso() };
  let expr = 'SET #s = :s, triggers = :t, updatedAt = :now REMOVE claimedAt, ppk';
  if (r.jobIds.length) {
    expr = 'SET #s = :s, triggers = :t, updatedAt = :now, jobIds = :j REMOVE claimedAt, ppk';
    values[':j'] = r.jobIds;
  }
  const out = await db().send(
    new UpdateCommand({
      TableName: table(),
      Key: { id },
      UpdateExpression: expr,
      ExpressionAttributeNames: { '#s': 'state' },
      ExpressionAttributeValues: values,
      ReturnValues: 'ALL_NEW',
    }),
  );
  return out.Attributes!;
}

async function getDataItem(id: string): Promise<Record<string, unknown> | undefined> {
  const r = await db().send(new GetCommand({ TableName: table(), Key: { id }, ConsistentRead: true }));
  return r.Item;
}

export async function getData(id: string): Promise<Data> {
  const item = await getDataItem(id);
  if (!item?.location) throw new NotFoundError('data', id);
  return toData(item);
}

export interface DataFilter {
  /** One value, or a list meaning any of them. */
  state?: DataState | readonly DataState[];
  source?: Source | readonly Source[];
  datatype?: string | readonly string[];
  name?: string;
  since?: string;
  until?: string;
  limit: number;
  cursor?: string;
}

/**
 * Files newest first, one registration day (index partition) after another, back to `since`,
 * within the read budget (`searchedBackTo` when a page ended on it).
 */
export async function listData(
  f: DataFilter,
): Promise<{ data: Data[]; nextCursor?: string; searchedBackTo?: string }> {
  const r = await listNewestByDay({
    table: table(),
    prefix: `${LIST_PREFIX.data}#`,
    timeAttr: 'registeredAt',
    equals: { state: f.state, source: f.source, datatype: f.datatype, name: f.name },
    since: f.since,
    until: f.until,
    limit: f.limit,
    cursor: f.cursor,
  });
  return { data: r.items.map(toData), nextCursor: r.nextCursor, searchedBackTo: r.searchedBackTo };
}

/**
 * Records one rule's outcome on the file as soon as it is known, so a takeover of a file
 * whose first registration died part-way skips the rules that already ran.
 */
export async function appendTrigger(id: string, t: Trigger): Promise<void> {
  await db().send(
    new UpdateCommand({
      TableName: table(),
      Key: { id },
      UpdateExpression: 'SET triggers = list_append(if_not_exists(triggers, :empty), :t)',
      ExpressionAttributeValues: { ':empty': [], ':t': [t] },
    }),
  );
}

/**
 * Name dedupe (rules with `dedupe: "name"`): true for the first file of this name for the rule
 * — and again for that same file (`dataId`), so a registration taken over after a crash keeps
 * the claim its first attempt made — false for any other file. A marker item in the data table
 * (never listed: it has no `lpk`), expiring with the retention period.
 */
export async function claimName(
  rule: string,
  nameHash: string,
  dataId: string,
  nowMs = Date.now(),
): Promise<boolean> {
  try {
    await db().send(
      new PutCommand({
        TableName: table(),
        Item: {
          id: `dedupe#${rule}#${nameHash}`,
          dataId,
          at: nowIso(nowMs),
          ttl: ttlAfterDays(config().P3S_RETENTION_DAYS, nowMs),
        },
        ConditionExpression: 'attribute_not_exists(id) OR dataId = :me',
        ExpressionAttributeValues: { ':me': dataId },
      }),
    );
    return true;
  } catch (err) {
    if (isConditionFailed(err)) return false;
    throw err;
  }
}
