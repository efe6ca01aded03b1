import type { Data } from '../core/data/data.ts';
import { PILOT_ENDED, type PilotState } from '../core/pilot/pilot.ts';
import { BOUNDS_MS, percentile } from '../core/stats/histogram.ts';
import { jobtypeEntity, jobtypeOfEntity } from '../core/stats/job-events.ts';
import { listData } from '../db/data.ts';
import { listJobtypes } from '../db/jobtypes.ts';
import { recentAggregates } from '../db/monitor-stats.ts';
import { livePilots } from '../db/pilots.ts';
import { counters, latencyOver, perMinute } from '../db/stats.ts';
import {
  type Alert,
  alerts,
  decodeTrend,
  encodeTrend,
  nextTrend,
  RECENT_MIN,
  type SourceActivity,
  sourceActivity,
} from './alerts.ts';
import type { MinuteThroughput } from './charts.ts';
import type { HitsWindow } from './pages/catalog.ts';
import type { JobtypeRow } from './pages/jobtypes.ts';

/** A live pilot as the dashboard shows it (never the key hash or other internals). */
export interface LivePilot {
  id: string;
  host: string;
  site?: string;
  state: PilotState;
  jobId?: string;
  jobcount: number;
  registeredAt: string;
  lastSeenAt: string;
  /** Milliseconds since its last heartbeat, when the snapshot was taken. */
  heartbeatAgeMs: number;
}

type Latency = ReturnType<typeof latencyOver>;

/**
 * The shape of `GET /summary` (shared/db/stats.ts `summary()`), plus: job types known only from
 * their counters (submitted, never configured or claimed), and stale/dropped per minute.
 */
export interface MonitorSummary {
  generatedAt: string;
  jobs: Record<string, number>;
  pilots: Record<string, number>;
  workflows: Record<string, number>;
  data: Record<string, number>;
  jobtypes: JobtypeRow[];
  latency: { last5min: Latency; last60min: Latency };
  /** Dispatch latency per minute (the last 60, oldest first), for the sparkline. */
  latencyPerMinute: { minute: string; jobs: number; p50Ms: number | null; p95Ms: number | null }[];
  throughput: (MinuteThroughput & { stale: number; dropped: number })[];
  /** Arrivals per data source (the silent-source alert). */
  sources: SourceActivity[];
}

export interface Snapshot {
  generatedAt: string;
  summary: MonitorSummary;
  livePilots: { total: number; shown: LivePilot[] };
  lastHour: { stale: number; dropped: number };
  alerts: Alert[];
  /** Send back as `?trend=` on the next refresh (queue growth needs the recent past). */
  trend: string;
}

const n = (v: unknown) => Math.max(0, Number(v ?? 0));

/**
 * What `summary()` reads (counters, job types, per-minute latency and throughput: four requests,
 * none on the jobs table), composed here because the monitor needs two things it leaves out.
 */
export async function loadSummary(nowMs: number): Promise<MonitorSummary> {
  const [c, types, lat, agg] = await Promise.all([
    counters(),
    listJobtypes(),
    perMinute('lat', 60, nowMs),
    recentAggregates(nowMs, 60, 24),
  ]);
  const tp = agg.tp;
  const recent = recentByType(tp, nowMs);
  const rows: JobtypeRow[] = types.map((t) => {
    const k = c[jobtypeEntity(t.name)] ?? {};
    return {
      name: t.name,
      queued: n(k.defined),
      inFlight: t.inFlight ?? 0,
      limit: t.limit ?? null,
      priority: t.priority ?? null,
      deadline: t.deadline ?? null,
      sampling: t.sampling ?? null,
      stale: n(k.stale),
      dropped: n(k.dropped),
      recent: recent.ended.get(t.name) ?? {},
      droppedLastHour: recent.droppedHour.get(t.name) ?? 0,
    };
  });
  const known = new Set(types.map((t) => t.name));
  for (const [entity, k] of Object.entries(c)) {
    const name = jobtypeOfEntity(entity);
    if (name === undefined) continue;
    if (known.has(name) || !Object.values(k).some((v) => v > 0)) continue;
    rows.push({
      name,
      queued: n(k.defined),
      inFlight: n(k.dispatched) + n(k.running),
      limit: null,
      priority: null,
      deadline: null,
      sampling: null,
      stale: n(k.stale),
      dropped: n(k.dropped),
      recent: recent.ended.get(name) ?? {},
      droppedLastHour: recent.droppedHour.get(name) ?? 0,
    });
  }
  rows.sort((a, b) => a.name.localeCompare(b.name));
  const throughput = [];
  for (let i = 59; i >= 0; i--) {
    const minute = new Date(nowMs - i * 60_000).toISOString().slice(0, 16);
    const m = tp.get(minute) ?? {};
    throughput.push({
      minute,
      started: n(m.started),
      ended: n(m.ended),
      finished: n(m.finished),
      failed: n(m.failed),
      stale: n(m.stale),
      dropped: n(m.dropped),
    });
  }
  const latencyPerMinute = throughput.map(({ minute }) => {
    const it = lat.get(minute) ?? {};
    const h = BOUNDS_MS.map((_, i) => n(it[`b${i}`]));
    return { minute, jobs: h.reduce((a, b) => a + b, 0), p50Ms: percentile(h, 50), p95Ms: percentile(h, 95) };
  });
  const minutes = throughput.map(({ minute }) => ({ minute, arrivals: arrivalsOf(tp.get(minute)) }));
  const hours = [...agg.arrivals]
    .map(([hour, a]) => ({ hour, arrivals: a }))
    .sort((a, b) => a.hour.localeCompare(b.hour));
  return {
    generatedAt: new Date(nowMs).toISOString(),
    jobs: c.jobs ?? {},
    pilots: c.pilots ?? {},
    workflows: c.workflows ?? {},
    data: c.data ?? {},
    jobtypes: rows,
    latency: { last5min: latencyOver(lat, 5, nowMs), last60min: latencyOver(lat, 60, nowMs) },
    latencyPerMinute,
    throughput,
    sources: sourceActivity(minutes, hours, nowMs),
  };
}

/** `arr@<source>` attributes of a per-minute item, by source. */
function arrivalsOf(it: Record<string, number> | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(it ?? {})) if (k.startsWith('arr@')) out[k.slice(4)] = n(v);
  return out;
}

/**
 * Per job type, from the per-minute `<state>@<type>` attributes: ends by state over the last
 * RECENT_MIN minutes, and drops over the last hour.
 */
function recentByType(tp: Map<string, Record<string, number>>, nowMs: number) {
  const ended = new Map<string, Record<string, number>>();
  const droppedHour = new Map<string, number>();
  for (let i = 0; i < 60; i++) {
    const it = tp.get(new Date(nowMs - i * 60_000).toISOString().slice(0, 16));
    if (!it) continue;
    for (const [k, v] of Object.entries(it)) {
      const at = k.indexOf('@');
      if (at < 1 || k.startsWith('arr@')) continue;
      const state = k.slice(0, at);
      const type = k.slice(at + 1);
      if (state === 'dropped') droppedHour.set(type, (droppedHour.get(type) ?? 0) + n(v));
      if (i >= RECENT_MIN) continue;
      const e = ended.get(type) ?? {};
      e[state] = (e[state] ?? 0) + n(v);
      ended.set(type, e);
    }
  }
  return { ended, droppedHour };
}

/** Pilots shown on the dashboard: the ones with the oldest heartbeat, which are the ones to watch. */
const SHOWN_PILOTS = 100;

/**
 * Everything the dashboard shows, read from counters and per-minute aggregates (stats table),
 * the job types and the live pilots — never from the jobs table, so its cost does not grow
 * with the number of jobs.
 */
export async function loadSnapshot(nowMs: number, trendToken?: string): Promise<Snapshot> {
  const [s, live] = await Promise.all([loadSummary(nowMs), loadLivePilots(nowMs)]);
  const stale = s.throughput.reduce((a, m) => a + m.stale, 0);
  const dropped = s.throughput.reduce((a, m) => a + m.dropped, 0);
  const prev = decodeTrend(trendToken);
  return {
    generatedAt: s.generatedAt,
    summary: s,
    livePilots: { total: live.length, shown: live.slice(0, SHOWN_PILOTS) },
    lastHour: { stale, dropped },
    alerts: alerts({
      nowMs,
      livePilots: live.length,
      queued: n(s.jobs.defined),
      jobtypes: s.jobtypes.map((t) => ({ ...t, ended: t.recent })),
      latency: s.latency.last5min,
      sources: s.sources,
      trend: prev,
    }),
    trend: encodeTrend(nextTrend(prev, nowMs, s.jobtypes)),
  };
}

/** Live pilots (a filtered Scan of the small pilots table), the oldest heartbeat first. */
export async function loadLivePilots(nowMs: number): Promise<LivePilot[]> {
  const pilots = await livePilots();
  return pilots
    .filter((p) => !PILOT_ENDED.has(p.state))
    .map((p) => ({
      id: p.id,
      host: p.host,
      site: p.site,
      state: p.state,
      jobId: p.jobId,
      jobcount: n(p.jobcount),
      registeredAt: String(p.registeredAt),
      lastSeenAt: p.lastSeenAt,
      heartbeatAgeMs: Math.max(0, nowMs - Date.parse(p.lastSeenAt)),
    }))
    .sort((a, b) => b.heartbeatAgeMs - a.heartbeatAgeMs || a.host.localeCompare(b.host));
}

/** Newest registered files the rule pages look through for recent hits, and how far back. */
const RECENT_FILES = 500;
const RECENT_FILES_WINDOW_MS = 86_400_000;

/**
 * The newest registered files (at most RECENT_FILES of the last 24 h, through the data table's
 * `list` index): the rule pages read what each rule did for them from their triggers.
 */
export async function recentFiles(nowMs: number): Promise<{ files: Data[]; window: HitsWindow }> {
  const since = new Date(nowMs - RECENT_FILES_WINDOW_MS).toISOString();
  const { data } = await listData({ since, limit: RECENT_FILES });
  return { files: data, window: { files: data.length, since: data[data.length - 1]?.registeredAt ?? since } };
}
