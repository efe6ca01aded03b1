import { PILOT_ENDED, type PilotState } from '../core/pilot/pilot.ts';
import { listJobtypes } from '../db/jobtypes.ts';
import { livePilots } from '../db/pilots.ts';
import { counters, latencyOver, perMinute } from '../db/stats.ts';
import { type Alert, alerts, decodeTrend, encodeTrend, nextTrend } from './alerts.ts';
import type { MinuteThroughput } from './charts.ts';
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
  throughput: (MinuteThroughput & { stale: number; dropped: number })[];
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
  const [c, types, lat, tp] = await Promise.all([
    counters(),
    listJobtypes(),
    perMinute('lat', 60, nowMs),
    perMinute('tp', 60, nowMs),
  ]);
  const rows: JobtypeRow[] = types.map((t) => {
    const k = c[`jobtype#${t.name}`] ?? {};
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
    };
  });
  const known = new Set(types.map((t) => t.name));
  for (const [entity, k] of Object.entries(c)) {
    if (!entity.startsWith('jobtype#')) continue;
    const name = entity.slice('jobtype#'.length);
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
  return {
    generatedAt: new Date(nowMs).toISOString(),
    jobs: c.jobs ?? {},
    pilots: c.pilots ?? {},
    workflows: c.workflows ?? {},
    data: c.data ?? {},
    jobtypes: rows,
    latency: { last5min: latencyOver(lat, 5, nowMs), last60min: latencyOver(lat, 60, nowMs) },
    throughput,
  };
}

/** Pilots shown on the dashboard: the ones with the oldest heartbeat, which are the ones to watch. */
export const SHOWN_PILOTS = 100;

/**
 * Everything the dashboard shows, read from counters and per-minute aggregates (stats table),
 * the job types and the live pilots — never from the jobs table, so its cost does not grow
 * with the number of jobs.
 */
export async function loadSnapshot(nowMs: number, trendToken?: string): Promise<Snapshot> {
  const [s, pilots] = await Promise.all([loadSummary(nowMs), livePilots()]);
  const stale = s.throughput.reduce((a, m) => a + m.stale, 0);
  const dropped = s.throughput.reduce((a, m) => a + m.dropped, 0);
  const live: LivePilot[] = pilots
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
      jobtypes: s.jobtypes,
      staleLastHour: stale,
      droppedLastHour: dropped,
      trend: prev,
    }),
    trend: encodeTrend(nextTrend(prev, nowMs, s.jobtypes)),
  };
}
