import { z } from 'zod';

/**
 * Dashboard alerts, decided from counters and aggregates only (pure). "A type at cap with a
 * growing queue" needs the queue's recent past; the server keeps no state between refreshes,
 * so the page carries a small trend token (recent queue samples) from one refresh to the next.
 */

export interface Alert {
  level: 'critical' | 'warning';
  code: 'no-live-pilots' | 'cap-queue-growing' | 'stale-or-dropped';
  text: string;
  href?: string;
}

export interface JobtypeLoad {
  name: string;
  queued: number;
  inFlight: number;
  limit: number | null;
}

const Sample = z.object({ t: z.number(), q: z.record(z.string().max(64), z.number()) });
const Trend = z.object({ s: z.array(Sample).max(20) });
export type Trend = z.infer<typeof Trend>;

/** Samples are at least this far apart, and kept this long. */
const SAMPLE_EVERY_MS = 10_000;
const KEEP_MS = 180_000;
/** Growth is measured against a sample at least this old (shorter is noise). */
const MIN_SPAN_MS = 15_000;
const MAX_TYPES = 50;
const MAX_TOKEN = 4096;

export function encodeTrend(t: Trend): string {
  return Buffer.from(JSON.stringify(t)).toString('base64url');
}

/** The trend a page sent back, or undefined if it is missing, too long or not one of ours. */
export function decodeTrend(token: string | undefined): Trend | undefined {
  if (!token || token.length > MAX_TOKEN) return undefined;
  try {
    const r = Trend.safeParse(JSON.parse(Buffer.from(token, 'base64url').toString('utf8')));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

/** Adds the current queue lengths of capped types (at most one sample per 10 s, the last 3 min). */
export function nextTrend(prev: Trend | undefined, nowMs: number, types: readonly JobtypeLoad[]): Trend {
  const s = (prev?.s ?? []).filter((x) => x.t <= nowMs && nowMs - x.t <= KEEP_MS);
  const last = s[s.length - 1];
  if (!last || nowMs - last.t >= SAMPLE_EVERY_MS) {
    const q: Record<string, number> = {};
    for (const t of types.filter((t) => t.limit !== null).slice(0, MAX_TYPES)) q[t.name] = t.queued;
    s.push({ t: nowMs, q });
  }
  return { s: s.slice(-20) };
}

/** How a type's queue grew: from the oldest kept sample at least 15 s old to now; undefined if it did not. */
export function queueGrowth(
  trend: Trend | undefined,
  nowMs: number,
  type: string,
  queuedNow: number,
): { from: number; overMs: number } | undefined {
  const base = trend?.s.find((x) => nowMs - x.t >= MIN_SPAN_MS && nowMs - x.t <= KEEP_MS && type in x.q);
  if (!base) return undefined;
  const from = base.q[type]!;
  return queuedNow > from ? { from, overMs: nowMs - base.t } : undefined;
}

export interface AlertInput {
  nowMs: number;
  livePilots: number;
  queued: number;
  jobtypes: readonly JobtypeLoad[];
  staleLastHour: number;
  droppedLastHour: number;
  /** The trend sent back by the page (before adding this refresh's sample). */
  trend?: Trend;
}

/** The alerts of the dashboard, most severe first. */
export function alerts(a: AlertInput): Alert[] {
  const out: Alert[] = [];
  if (a.livePilots === 0) {
    out.push({
      level: a.queued > 0 ? 'critical' : 'warning',
      code: 'no-live-pilots',
      text:
        a.queued > 0
          ? `No live pilots: ${a.queued} queued job${a.queued === 1 ? '' : 's'} cannot start.`
          : 'No live pilots: new jobs will wait until a pilot registers.',
      href: '/monitor/pilots',
    });
  }
  for (const t of a.jobtypes) {
    if (t.limit === null || t.inFlight < t.limit) continue;
    const g = queueGrowth(a.trend, a.nowMs, t.name, t.queued);
    if (!g) continue;
    out.push({
      level: 'warning',
      code: 'cap-queue-growing',
      text: `Job type ${t.name} is at its cap (${t.inFlight}/${t.limit} in flight) and its queue grew from ${g.from} to ${t.queued} in the last ${Math.round(g.overMs / 1000)} s.`,
      href: `/monitor/jobs?state=defined&jobtype=${encodeURIComponent(t.name)}`,
    });
  }
  if (a.staleLastHour > 0 || a.droppedLastHour > 0) {
    const parts: string[] = [];
    if (a.staleLastHour) parts.push(`${a.staleLastHour} went stale (queued past their deadline)`);
    if (a.droppedLastHour) parts.push(`${a.droppedLastHour} were dropped`);
    out.push({
      level: 'warning',
      code: 'stale-or-dropped',
      text: `In the last hour ${parts.join(' and ')}.`,
      href: '/monitor/jobs?state=stale,dropped&window=1h',
    });
  }
  return out.sort((x, y) => (x.level === y.level ? 0 : x.level === 'critical' ? -1 : 1));
}
