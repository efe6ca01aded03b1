import { createHash } from 'node:crypto';
import { GetCommand, QueryCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { tableName } from '../config.ts';
import { BOUNDS_MS, percentile, sum } from '../core/stats/histogram.ts';
import { jobtypeEntity, jobtypeOfEntity } from '../core/stats/job-events.ts';
import { ttlAfterDays } from '../core/util/time.ts';
import { batchGet } from './batch.ts';
import { db } from './client.ts';
import { cancellationCodes, isConditionFailed } from './conditions.ts';
import { listJobtypes } from './jobtypes.ts';

const table = () => tableName('stats');

/** Accumulates ADD deltas per stats item, then writes each item once. */
export class StatsDelta {
  private items = new Map<string, { pk: string; sk: string; add: Map<string, number>; ttl?: number }>();

  add(pk: string, sk: string, attr: string, n: number, ttlDays?: number): void {
    const key = `${pk}\u0000${sk}`;
    let it = this.items.get(key);
    if (!it) {
      it = { pk, sk, add: new Map(), ttl: ttlDays ? ttlAfterDays(ttlDays) : undefined };
      this.items.set(key, it);
    }
    it.add.set(attr, (it.add.get(attr) ?? 0) + n);
  }

  get size(): number {
    return this.items.size;
  }

  /**
   * Writes the summed deltas. Without `batchId`, one UpdateItem per item (a failure part-way
   * leaves the others applied). With `batchId` — a stream batch's identity — the items go in
   * transactions of at most 100 whose ClientRequestToken derives from the batch: a retried batch
   * (Lambda retries a failed one with the same records) re-sends the same transactions, which
   * DynamoDB applies once within its 10-minute idempotency window; each transaction is
   * all-or-nothing. So a retry never counts twice. Transaction conflicts with a concurrent batch
   * (jobEvents reads two streams) are retried here with backoff.
   */
  async flush(batchId?: string): Promise<void> {
    const updates = [...this.items.values()].map(toUpdate).filter((u) => u !== undefined);
    if (batchId === undefined) {
      await Promise.all(updates.map((u) => db().send(new UpdateCommand(u))));
    } else {
      const chunks: (typeof updates)[] = [];
      for (let i = 0; i < updates.length; i += 100) chunks.push(updates.slice(i, i + 100));
      await Promise.all(
        chunks.map((chunk, i) =>
          sendIdempotent(chunk, createHash('sha256').update(`${batchId}#${i}`).digest('hex').slice(0, 36)),
        ),
      );
    }
    this.items.clear();
  }
}

type Update = {
  TableName: string;
  Key: { pk: string; sk: string };
  UpdateExpression: string;
  ExpressionAttributeNames: Record<string, string>;
  ExpressionAttributeValues: Record<string, unknown>;
};

function toUpdate(it: {
  pk: string;
  sk: string;
  add: Map<string, number>;
  ttl?: number;
}): Update | undefined {
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  const adds: string[] = [];
  let i = 0;
  for (const [attr, n] of it.add) {
    if (n === 0) continue;
    names[`#a${i}`] = attr;
    values[`:v${i}`] = n;
    adds.push(`#a${i} :v${i}`);
    i++;
  }
  if (!adds.length) return undefined;
  let expr = `ADD ${adds.join(', ')}`;
  if (it.ttl) {
    names['#ttl'] = 'ttl';
    values[':ttl'] = it.ttl;
    expr += ' SET #ttl = if_not_exists(#ttl, :ttl)';
  }
  return {
    TableName: table(),
    Key: { pk: it.pk, sk: it.sk },
    UpdateExpression: expr,
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  };
}

async function sendIdempotent(updates: Update[], token: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await db().send(
        new TransactWriteCommand({
          TransactItems: updates.map((Update) => ({ Update })),
          ClientRequestToken: token,
        }),
      );
      return;
    } catch (err) {
      const conflict =
        (err as Error)?.name === 'TransactionInProgressException' ||
        cancellationCodes(err).some((c) => c === 'TransactionConflict');
      if (!conflict || attempt >= 10) throw err;
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 20 * (attempt + 1)));
    }
  }
}

/** Counters per entity and state, kept by the job-events stream consumer. */
export async function counters(): Promise<Record<string, Record<string, number>>> {
  const out: Record<string, Record<string, number>> = {};
  let start: Record<string, unknown> | undefined;
  do {
    const r = await db().send(
      new QueryCommand({
        TableName: table(),
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': 'count' },
        ExclusiveStartKey: start,
      }),
    );
    for (const it of r.Items ?? []) {
      const sk = String(it.sk);
      const i = sk.lastIndexOf('#');
      const entity = sk.slice(0, i);
      const state = sk.slice(i + 1);
      out[entity] ??= {};
      out[entity][state] = Number(it.n ?? 0);
    }
    start = r.LastEvaluatedKey;
  } while (start);
  return out;
}

/** One counter (`count` / `<entity>#<state>`, e.g. `pilots#waiting`): a GetItem, 0 if never written. */
export async function counter(sk: string): Promise<number> {
  const r = await db().send(new GetCommand({ TableName: table(), Key: { pk: 'count', sk } }));
  return Math.max(0, Number(r.Item?.n ?? 0));
}

/**
 * The sweeper's correction of a drifted counter (`count` / `sk`): adds `delta` only if the
 * counter still holds `seen` (0 also matches a counter never written), so a stream batch that
 * lands meanwhile makes it change nothing. False when it lost.
 */
export async function correctCounter(sk: string, seen: number, delta: number): Promise<boolean> {
  try {
    await db().send(
      new UpdateCommand({
        TableName: table(),
        Key: { pk: 'count', sk },
        UpdateExpression: 'ADD n :d',
        ConditionExpression: seen === 0 ? 'attribute_not_exists(n) OR n = :seen' : 'n = :seen',
        ExpressionAttributeValues: { ':d': delta, ':seen': seen },
      }),
    );
    return true;
  } catch (err) {
    if (isConditionFailed(err)) return false;
    throw err;
  }
}

function minutesBack(n: number, nowMs: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(new Date(nowMs - i * 60_000).toISOString().slice(0, 16));
  return out;
}

/** Per-minute items of one kind for the last `minutes` minutes (missing minutes are absent). */
export async function perMinute(
  pk: 'lat' | 'tp',
  minutes: number,
  nowMs = Date.now(),
): Promise<Map<string, Record<string, number>>> {
  const keys = minutesBack(minutes, nowMs).map((sk) => ({ pk, sk }));
  const out = new Map<string, Record<string, number>>();
  for (const it of await batchGet(table(), keys)) out.set(String(it.sk), it as Record<string, number>);
  return out;
}

const histogramOf = (it: Record<string, number>) => BOUNDS_MS.map((_, i) => Number(it[`b${i}`] ?? 0));

/** Latency percentiles (job defined → payload started) over the last `minutes`. */
export function latencyOver(lat: Map<string, Record<string, number>>, minutes: number, nowMs = Date.now()) {
  const window = new Set(minutesBack(minutes, nowMs));
  const h = sum([...lat].filter(([k]) => window.has(k)).map(([, v]) => histogramOf(v)));
  const n = h.reduce((a, b) => a + b, 0);
  return { jobs: n, p50Ms: percentile(h, 50), p95Ms: percentile(h, 95), p99Ms: percentile(h, 99) };
}

/** Everything `p3s summary` and the dashboard show; reads counters and aggregates, never scans jobs. */
export async function summary(nowMs = Date.now()) {
  const [c, types, lat, tp] = await Promise.all([
    counters(),
    listJobtypes(),
    perMinute('lat', 60, nowMs),
    perMinute('tp', 60, nowMs),
  ]);
  // Job types seen only in the counters (submitted, never configured) are listed too.
  const known = new Set(types.map((t) => t.name));
  for (const k of Object.keys(c)) {
    const name = jobtypeOfEntity(k);
    if (name && !known.has(name)) {
      known.add(name);
      types.push({ name, inFlight: 0 });
    }
  }
  types.sort((a, b) => a.name.localeCompare(b.name));
  const jobtypes = types.map((t) => ({
    name: t.name,
    queued: c[jobtypeEntity(t.name)]?.defined ?? 0,
    // A capped type's own counter; an uncapped type has none (its claims take no cap slot).
    inFlight:
      t.limit === undefined
        ? (c[jobtypeEntity(t.name)]?.dispatched ?? 0) + (c[jobtypeEntity(t.name)]?.running ?? 0)
        : (t.inFlight ?? 0),
    limit: t.limit ?? null,
    priority: t.priority ?? null,
    deadline: t.deadline ?? null,
    sampling: t.sampling ?? null,
    stale: c[jobtypeEntity(t.name)]?.stale ?? 0,
    dropped: c[jobtypeEntity(t.name)]?.dropped ?? 0,
  }));
  const throughput = minutesBack(60, nowMs)
    .reverse()
    .map((m) => ({
      minute: m,
      started: Number(tp.get(m)?.started ?? 0),
      ended: Number(tp.get(m)?.ended ?? 0),
      finished: Number(tp.get(m)?.finished ?? 0),
      failed: Number(tp.get(m)?.failed ?? 0),
    }));
  return {
    generatedAt: new Date(nowMs).toISOString(),
    jobs: c.jobs ?? {},
    pilots: c.pilots ?? {},
    workflows: c.workflows ?? {},
    data: c.data ?? {},
    jobtypes,
    latency: { last5min: latencyOver(lat, 5, nowMs), last60min: latencyOver(lat, 60, nowMs) },
    throughput,
  };
}
