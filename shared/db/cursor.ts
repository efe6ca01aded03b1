import { QueryCommand, type QueryCommandOutput } from '@aws-sdk/lib-dynamodb';
import { config } from '../config.ts';
import { ValidationError } from '../core/errors.ts';
import { nowIso } from '../core/util/time.ts';
import { db } from './client.ts';
import { anyOf } from './filters.ts';

/**
 * Listing cursors and the day-by-day walk over a `<X>#<day>` list index, shared by the listings
 * of data and workflows (listNewestByDay) and of jobs. A cursor is opaque to clients but comes
 * back from them, so it is checked before it reaches a query: a forged day or start key was a
 * 500, a far-future day a walk that never ended.
 */
export interface Cursor {
  /** The index partition day (YYYY-MM-DD) to resume in. */
  day?: string;
  /** DynamoDB's start key: index key attributes (strings, once checked by decodeCursor). */
  key?: Record<string, unknown>;
}

const BAD_CURSOR = 'query.cursor: not a cursor returned by this API';
const DAY = /^\d{4}-\d{2}-\d{2}$/;

export const encodeCursor = (c: Cursor): string => Buffer.from(JSON.stringify(c)).toString('base64url');

/** Decodes a client's cursor whose start key may only name `keyAttrs`; a 400 when it is not one of ours. */
export function decodeCursor(s: string | undefined, keyAttrs: ReadonlySet<string>): Cursor {
  if (!s) return {};
  let c: unknown;
  try {
    c = JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
  } catch {
    throw new ValidationError(BAD_CURSOR);
  }
  if (!c || typeof c !== 'object' || Array.isArray(c)) throw new ValidationError(BAD_CURSOR);
  const { day, key } = c as Record<string, unknown>;
  if (day !== undefined && (typeof day !== 'string' || !DAY.test(day) || Number.isNaN(Date.parse(day))))
    throw new ValidationError(BAD_CURSOR);
  if (key !== undefined) {
    if (!key || typeof key !== 'object' || Array.isArray(key)) throw new ValidationError(BAD_CURSOR);
    for (const [k, v] of Object.entries(key))
      if (!keyAttrs.has(k) || typeof v !== 'string') throw new ValidationError(BAD_CURSOR);
  }
  return { day, key } as Cursor;
}

/** Runs a query that may resume from a client's start key: DynamoDB rejecting that key is a 400. */
export async function queryFrom(cmd: QueryCommand): Promise<QueryCommandOutput> {
  try {
    return await db().send(cmd);
  } catch (err) {
    if (cmd.input.ExclusiveStartKey && (err as Error)?.name === 'ValidationException')
      throw new ValidationError(BAD_CURSOR);
    throw err;
  }
}

/**
 * What one listing request may read: `P3S_LIST_READ_BUDGET` index items (never fewer than the
 * page asks for), counted as DynamoDB reads them (ScannedCount, before filters), each query at
 * least one. A filter that matches little would otherwise read every item of every day in the
 * retention window in one request: at volume a timeout for the caller and a cheap way to burn
 * read capacity. A page that spends it ends early with a cursor to continue and
 * `searchedBackTo`, the time it reached.
 */
export class ReadBudget {
  private left: number;
  constructor(pageSize: number, amount = Math.max(config().P3S_LIST_READ_BUDGET, pageSize)) {
    this.left = amount;
  }
  /** `n` budgets that share this one, for listings that read in parallel. */
  split(n: number): ReadBudget[] {
    const each = Math.max(1, Math.floor(this.left / n));
    this.left = 0;
    return Array.from({ length: n }, () => new ReadBudget(0, each));
  }
  /** The `Limit` of the next query: what it would read, within what is left. */
  cap(wanted: number): number {
    return Math.max(1, Math.min(wanted, this.left));
  }
  spend(r: { ScannedCount?: number; Count?: number }): void {
    this.left -= Math.max(1, r.ScannedCount ?? r.Count ?? 0);
  }
  get spent(): boolean {
    return this.left <= 0;
  }
}

/** The start of a YYYY-MM-DD day, or `since` when that is later (where a walk of that day ended). */
export const dayStart = (day: string, since?: string): string => {
  const start = `${day}T00:00:00.000Z`;
  return since && since > start ? since : start;
};

/** The day before a YYYY-MM-DD day. */
export function prevDay(day: string): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) - 86400_000).toISOString().slice(0, 10);
}

/** An ISO time (any offset) as the UTC ISO string index sort keys hold, so they compare as strings. */
export const utcIso = (t: string | undefined): string | undefined =>
  t === undefined ? undefined : nowIso(Date.parse(t));

/**
 * The days a listing walks, newest first: from `until` (never past now: nothing is created in
 * the future) back to `since`, and at most `spanDays` days — one query per day, so the walk is
 * bounded whatever the window asked for. A cursor's day resumes inside that range.
 */
export function dayRange(
  w: { since?: string; until?: string; cursorDay?: string },
  spanDays: number,
): { firstDay: string; lastDay: string } {
  const endMs = Math.min(w.until ? Date.parse(w.until) : Date.now(), Date.now());
  const startMs = Math.max(w.since ? Date.parse(w.since) : 0, endMs - spanDays * 86400_000);
  const endDay = nowIso(endMs).slice(0, 10);
  return {
    firstDay: nowIso(startMs).slice(0, 10),
    lastDay: w.cursorDay && w.cursorDay < endDay ? w.cursorDay : endDay,
  };
}

/**
 * A listing newest first over a `list` index whose partitions are `<prefix><day>` and whose sort
 * key is `timeAttr`: one day after another (within the retention window), with equality filters
 * on other attributes, a time window, and a cursor that resumes after the last item returned.
 * The window is compared as UTC ISO strings (what the index holds).
 */
export async function listNewestByDay(q: {
  table: string;
  prefix: string;
  timeAttr: string;
  /** Attribute → a value, or a list of values (any of them); undefined = no filter. */
  equals: Record<string, unknown>;
  since?: string;
  until?: string;
  limit: number;
  cursor?: string;
  /** Attributes to read (all when absent). */
  projection?: readonly string[];
}): Promise<{ items: Record<string, unknown>[]; nextCursor?: string; searchedBackTo?: string }> {
  const since = utcIso(q.since);
  const until = utcIso(q.until);
  if (since && until && since > until) return { items: [] };
  const names: Record<string, string> = {};
  (q.projection ?? []).forEach((a, i) => {
    names[`#a${i}`] = a;
  });
  const values: Record<string, unknown> = {};
  const filters: string[] = [];
  for (const [k, v] of Object.entries(q.equals)) {
    const term = anyOf(k, v, names, values);
    if (term) filters.push(term);
  }
  // A key condition takes one range condition: BETWEEN when both ends are given.
  let range = '';
  if (since) values[':since'] = since;
  if (until) values[':until'] = until;
  if (since && until) range = ' AND #t BETWEEN :since AND :until';
  else if (since) range = ' AND #t >= :since';
  else if (until) range = ' AND #t <= :until';
  if (range) names['#t'] = q.timeAttr; // DynamoDB rejects names the expressions do not use
  const cursor = decodeCursor(q.cursor, new Set(['id', 'lpk', q.timeAttr]));
  // One query per day, within the retention window whatever the window or cursor asks for.
  const { firstDay, lastDay } = dayRange(
    { since, until, cursorDay: cursor.day },
    config().P3S_RETENTION_DAYS + 1,
  );
  let day = lastDay;
  let start = cursor.key;
  const out: Record<string, unknown>[] = [];
  const budget = new ReadBudget(q.limit);
  while (day >= firstDay) {
    do {
      const r = await queryFrom(
        new QueryCommand({
          TableName: q.table,
          IndexName: 'list',
          KeyConditionExpression: `lpk = :lpk${range}`,
          FilterExpression: filters.length ? filters.join(' AND ') : undefined,
          ProjectionExpression: q.projection?.map((_, i) => `#a${i}`).join(', '),
          ExpressionAttributeNames: Object.keys(names).length ? names : undefined,
          ExpressionAttributeValues: { ...values, ':lpk': `${q.prefix}${day}` },
          ScanIndexForward: false,
          Limit: budget.cap(Math.max(q.limit - out.length, 1) * (filters.length ? 4 : 1)),
          ExclusiveStartKey: start,
        }),
      );
      budget.spend(r);
      for (const it of r.Items ?? []) if (out.length < q.limit) out.push(it);
      start = r.LastEvaluatedKey;
      if (out.length >= q.limit) {
        // Resume after the last item returned (not after the last one DynamoDB read).
        const last = out[out.length - 1]!;
        const key = { id: last.id, lpk: last.lpk, [q.timeAttr]: last[q.timeAttr] };
        return { items: out, nextCursor: encodeCursor({ day, key }) };
      }
      // Out of budget: continue after the last item read (every match before it was returned).
      if (start && budget.spent)
        return {
          items: out,
          nextCursor: encodeCursor({ day, key: start }),
          searchedBackTo: String(start[q.timeAttr]),
        };
    } while (start);
    const walked = day;
    day = prevDay(day);
    if (budget.spent && day >= firstDay)
      return { items: out, nextCursor: encodeCursor({ day }), searchedBackTo: dayStart(walked, since) };
  }
  return { items: out };
}
