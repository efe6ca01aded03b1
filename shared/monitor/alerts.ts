import { z } from 'zod';
import { url } from './html.ts';

/**
 * Dashboard alerts: what a shifter must act on, decided from counters and per-minute aggregates
 * only (pure; one unit test per rule). "A type at cap with a growing queue" needs the queue's
 * recent past; the server keeps no state between refreshes, so the page carries a small trend
 * token (recent queue samples) from one refresh to the next. Thresholds are the constants
 * below (docs/monitor.md lists them).
 */

type AlertCode =
  | 'no-live-pilots'
  | 'failures'
  | 'queue-past-deadline'
  | 'latency'
  | 'cap-queue-growing'
  | 'source-silent'
  | 'dropped';

export interface Alert {
  level: 'critical' | 'warning';
  code: AlertCode;
  text: string;
  /** The filtered table that shows what the alert is about. */
  href?: string;
  /** The job type or data source it is about, if any. */
  subject?: string;
}

/** Minutes over which failures and stale jobs are counted. */
export const RECENT_MIN = 15;
/** Job end states a shifter must look at (killed is an operator's act; stale/dropped have their own alerts). */
export const BAD_STATES = ['failed', 'nonstarter', 'timelimit', 'pilotTO'] as const;
/** Share of a type's recent ends that were bad for a warning, and for a critical alert. */
const FAILURE_WARN = 0.1;
const FAILURE_CRITICAL = 0.5;
/** A critical failure alert needs at least this many bad ends (one failed job of one is a warning). */
const FAILURE_CRITICAL_MIN = 3;
/** Dispatch latency target (p95 over the last 5 min) and the fewest jobs that make a p95. */
const LATENCY_P95_TARGET_MS = 1000;
const LATENCY_MIN_JOBS = 5;
/** A source is silent when nothing came for SILENT_FACTOR × its usual gap, and at least SILENT_MIN_MS. */
const SILENT_FACTOR = 5;
export const SILENT_MIN_MS = 10 * 60_000;
/** A source needs this many files in the last 24 h to have a "usual". */
const SOURCE_MIN_FILES = 6;

export interface JobtypeLoad {
  name: string;
  queued: number;
  inFlight: number;
  limit: number | null;
  deadline?: number | null;
  /** Jobs of the type that ended in the last RECENT_MIN minutes, by end state. */
  ended?: Readonly<Record<string, number>>;
  /** Dropped (shed) in the last hour. */
  droppedLastHour?: number;
}

/** What the aggregates say about one data source's arrivals. */
export interface SourceActivity {
  source: string;
  /** Files in the last 24 hours (hourly counts). */
  last24h: number;
  /** Hours of the last 24 with at least one file. */
  activeHours: number;
  /** Upper bound of its last file's arrival (end of the minute or hour it was counted in). */
  lastMs?: number;
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

/**
 * Per-source activity from per-minute counts (the last hour, oldest first) and hourly counts (the
 * last 24 hours and the current one): how many files, in how many hours, and when the last one
 * came at the latest.
 */
export function sourceActivity(
  minutes: readonly { minute: string; arrivals: Readonly<Record<string, number>> }[],
  hours: readonly { hour: string; arrivals: Readonly<Record<string, number>> }[],
  nowMs: number,
): SourceActivity[] {
  const names = new Set<string>();
  for (const x of [...minutes, ...hours])
    for (const [k, n] of Object.entries(x.arrivals)) if (n > 0) names.add(k);
  const recentHours = hours.filter((h) => nowMs - Date.parse(`${h.hour}:00:00Z`) < 25 * 3_600_000);
  return [...names].sort().map((source) => {
    const lastMinute = [...minutes].reverse().find((m) => (m.arrivals[source] ?? 0) > 0);
    const lastHour = [...recentHours].reverse().find((h) => (h.arrivals[source] ?? 0) > 0);
    const end = lastMinute
      ? Date.parse(`${lastMinute.minute}:00Z`) + 60_000
      : lastHour
        ? Date.parse(`${lastHour.hour}:00:00Z`) + 3_600_000
        : undefined;
    return {
      source,
      last24h: recentHours.reduce((a, h) => a + (h.arrivals[source] ?? 0), 0),
      activeHours: recentHours.filter((h) => (h.arrivals[source] ?? 0) > 0).length,
      lastMs: end === undefined ? undefined : Math.min(end, nowMs),
    };
  });
}

export interface AlertInput {
  nowMs: number;
  livePilots: number;
  queued: number;
  jobtypes: readonly JobtypeLoad[];
  /** Dispatch latency over the last 5 minutes. */
  latency?: { jobs: number; p50Ms: number | null; p95Ms: number | null };
  sources?: readonly SourceActivity[];
  /** The trend sent back by the page (before adding this refresh's sample). */
  trend?: Trend;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const minutes = (ms: number) =>
  ms < 120_000 ? `${Math.round(ms / 1000)} s` : `${Math.round(ms / 60_000)} min`;

/** No pilot is alive: nothing can start. Critical when jobs are waiting. */
export function noPilotAlert(a: AlertInput): Alert[] {
  if (a.livePilots > 0) return [];
  return [
    {
      level: a.queued > 0 ? 'critical' : 'warning',
      code: 'no-live-pilots',
      text:
        a.queued > 0
          ? `No live pilots: ${plural(a.queued, 'queued job')} cannot start.`
          : 'No live pilots: new jobs will wait until a pilot registers.',
      href: '/monitor/pilots',
    },
  ];
}

/** A job type whose recent ends were failures, nonstarters, time limits or lost pilots. */
export function failureAlerts(a: AlertInput): Alert[] {
  const out: Alert[] = [];
  for (const t of a.jobtypes) {
    const ended = Object.values(t.ended ?? {}).reduce((x, n) => x + n, 0);
    const bad = BAD_STATES.map((s) => [s, t.ended?.[s] ?? 0] as const).filter(([, n]) => n > 0);
    const nBad = bad.reduce((x, [, n]) => x + n, 0);
    if (!nBad || nBad / ended < FAILURE_WARN) continue;
    const critical = nBad >= FAILURE_CRITICAL_MIN && nBad / ended >= FAILURE_CRITICAL;
    out.push({
      level: critical ? 'critical' : 'warning',
      code: 'failures',
      subject: t.name,
      text: `Job type ${t.name}: ${nBad} of ${plural(ended, 'job')} that ended in the last ${RECENT_MIN} min did not finish (${bad.map(([s, n]) => `${n} ${s}`).join(', ')}).`,
      href: url('/monitor/jobs', { state: bad.map(([s]) => s), jobtype: t.name, window: `${RECENT_MIN}m` }),
    });
  }
  return out;
}

/** A job type whose jobs waited in the queue past its deadline (the reaper ends them `stale`). */
export function deadlineAlerts(a: AlertInput): Alert[] {
  const out: Alert[] = [];
  for (const t of a.jobtypes) {
    const stale = t.ended?.stale ?? 0;
    if (!stale) continue;
    out.push({
      level: 'warning',
      code: 'queue-past-deadline',
      subject: t.name,
      text: `Job type ${t.name}: ${plural(stale, 'job')} waited in the queue past ${t.deadline ? `the ${t.deadline} s deadline` : 'their deadline'} in the last ${RECENT_MIN} min (stale)${t.queued ? `; ${t.queued} queued now` : ''}.`,
      href: url('/monitor/jobs', { state: 'stale', jobtype: t.name, window: `${RECENT_MIN}m` }),
    });
  }
  return out;
}

/** Dispatch latency (queued → payload started) above its target over the last 5 minutes. */
export function latencyAlert(a: AlertInput): Alert[] {
  const l = a.latency;
  if (!l || l.jobs < LATENCY_MIN_JOBS || l.p95Ms === null || l.p95Ms <= LATENCY_P95_TARGET_MS) return [];
  return [
    {
      level: 'warning',
      code: 'latency',
      text: `Dispatch latency is above its target: p95 up to ${minutes(l.p95Ms)} over the last 5 min (${plural(l.jobs, 'job')} started; target ${LATENCY_P95_TARGET_MS / 1000} s). Jobs wait for pilots or caps.`,
      href: url('/monitor/jobs', { state: 'defined' }),
    },
  ];
}

/** A type at its cap whose queue keeps growing. */
export function capQueueAlerts(a: AlertInput): Alert[] {
  const out: Alert[] = [];
  for (const t of a.jobtypes) {
    if (t.limit === null || t.inFlight < t.limit) continue;
    const g = queueGrowth(a.trend, a.nowMs, t.name, t.queued);
    if (!g) continue;
    out.push({
      level: 'warning',
      code: 'cap-queue-growing',
      subject: t.name,
      text: `Job type ${t.name} is at its cap (${t.inFlight}/${t.limit} in flight) and its queue grew from ${g.from} to ${t.queued} in the last ${Math.round(g.overMs / 1000)} s.`,
      href: url('/monitor/jobs', { state: 'defined', jobtype: t.name }),
    });
  }
  return out;
}

/** A data source that has been silent for much longer than its usual gap between files. */
export function silentSourceAlerts(a: AlertInput): Alert[] {
  const out: Alert[] = [];
  for (const s of a.sources ?? []) {
    if (s.last24h < SOURCE_MIN_FILES || s.lastMs === undefined || !s.activeHours) continue;
    const usualMs = (s.activeHours * 3_600_000) / s.last24h;
    const silentMs = a.nowMs - s.lastMs;
    if (silentMs <= Math.max(SILENT_MIN_MS, SILENT_FACTOR * usualMs)) continue;
    out.push({
      level: 'warning',
      code: 'source-silent',
      subject: s.source,
      text: `No files from ${s.source} for ${minutes(silentMs)}; it usually sends one every ${minutes(usualMs)} (${s.last24h} in the last 24 h).`,
      href: url('/monitor/data', { source: s.source }),
    });
  }
  return out;
}

/** Queued jobs dropped by shedding (they could not start before their deadline) in the last hour. */
export function droppedAlert(a: AlertInput): Alert[] {
  const types = a.jobtypes.filter((t) => (t.droppedLastHour ?? 0) > 0);
  if (!types.length) return [];
  const n = types.reduce((x, t) => x + (t.droppedLastHour ?? 0), 0);
  return [
    {
      level: 'warning',
      code: 'dropped',
      subject: types.length === 1 ? types[0]!.name : undefined,
      text: `In the last hour ${plural(n, 'queued job')} ${n === 1 ? 'was' : 'were'} dropped (shed: could not start before the deadline): ${types.map((t) => `${t.name} ${t.droppedLastHour}`).join(', ')}.`,
      href: url('/monitor/jobs', {
        state: 'dropped',
        jobtype: types.length === 1 ? types[0]!.name : undefined,
        window: '1h',
      }),
    },
  ];
}

/** The alerts of the dashboard, most severe first (then in the order of the rules above). */
export function alerts(a: AlertInput): Alert[] {
  const out = [
    ...noPilotAlert(a),
    ...failureAlerts(a),
    ...deadlineAlerts(a),
    ...latencyAlert(a),
    ...capQueueAlerts(a),
    ...silentSourceAlerts(a),
    ...droppedAlert(a),
  ];
  return out.sort((x, y) => (x.level === y.level ? 0 : x.level === 'critical' ? -1 : 1));
}
