import { isTerminal, type JobState } from '../job/job.ts';
import { bucketOf, minuteOf } from './histogram.ts';

/** One change of a job or pilot, as read from a stream record (plain objects, unmarshalled). */
export interface Change {
  entity: 'jobs' | 'pilots' | 'workflows' | 'data';
  old?: Record<string, unknown>;
  new?: Record<string, unknown>;
}

export interface Delta {
  pk: string;
  sk: string;
  attr: string;
  n: number;
  ttlDays?: number;
}

/**
 * The per-minute throughput attribute of one job type's jobs ending in `state`
 * (`failed@evdisp`): the dashboard's per-type failure rates and stale counts read them from the
 * same 60 per-minute items as the totals, so they cost no extra read. `@` never occurs in a
 * state or a job type name.
 */
const typeAttr = (state: string, jobtype: string) => `${state}@${jobtype}`;

/** The per-minute attribute counting files that arrived from a data source (`arr@xrootd`). */
const arrivalAttr = (source: string) => `arr@${source}`;

/** Hourly arrivals per source (pk `arrh`, sk the UTC hour `2026-11-25T17`, attribute = source). */
export const ARRIVALS_BY_HOUR = 'arrh';
const hourOf = (iso: string) => iso.slice(0, 13);

/**
 * What a change adds to the counters and aggregates: per-state counts (global and per job type),
 * the defined→started latency histogram and per-minute throughput (total and per job type).
 * Pure, so the arithmetic is unit-tested; the stream function only applies the deltas.
 */
/** The counters' entity of a job type (`jobtype#<name>`, counted per state). */
export const jobtypeEntity = (name: string) => `jobtype#${name}`;
/** The job type a counters' entity names, or undefined for another entity. */
export const jobtypeOfEntity = (entity: string): string | undefined =>
  entity.startsWith('jobtype#') ? entity.slice('jobtype#'.length) : undefined;

export function deltasOf(ch: Change): Delta[] {
  const out: Delta[] = [];
  const oldState = ch.old?.state as string | undefined;
  const newState = ch.new?.state as string | undefined;
  if (oldState === newState) return out;
  const count = (state: string | undefined, n: number, item: Record<string, unknown> | undefined) => {
    if (!state) return;
    out.push({ pk: 'count', sk: `${ch.entity}#${state}`, attr: 'n', n });
    if (ch.entity === 'jobs' && item?.jobtype)
      out.push({ pk: 'count', sk: `${jobtypeEntity(String(item.jobtype))}#${state}`, attr: 'n', n });
  };
  count(oldState, -1, ch.old);
  count(newState, +1, ch.new);
  if (ch.entity !== 'jobs' || !ch.new || !newState) return out;
  const j = ch.new;
  if (newState === 'running' && typeof j.startedAt === 'string' && typeof j.definedAt === 'string') {
    const ms = Date.parse(j.startedAt) - Date.parse(j.definedAt);
    const m = minuteOf(j.startedAt);
    out.push({ pk: 'lat', sk: m, attr: `b${bucketOf(ms)}`, n: 1, ttlDays: 2 });
    out.push({ pk: 'tp', sk: m, attr: 'started', n: 1, ttlDays: 2 });
  }
  if (isTerminal(newState as JobState) && typeof j.endedAt === 'string') {
    const m = minuteOf(j.endedAt);
    out.push({ pk: 'tp', sk: m, attr: 'ended', n: 1, ttlDays: 2 });
    out.push({ pk: 'tp', sk: m, attr: newState, n: 1, ttlDays: 2 });
    if (typeof j.jobtype === 'string')
      out.push({ pk: 'tp', sk: m, attr: typeAttr(newState, j.jobtype), n: 1, ttlDays: 2 });
  }
  return out;
}

/**
 * What one file's arrival adds (the data table has no stream: registration adds these itself):
 * its source's per-minute and hourly arrival counts, from which the dashboard tells a source that
 * went silent for longer than usual.
 */
export function arrivalDeltas(source: string, atIso: string): Delta[] {
  return [
    { pk: 'tp', sk: minuteOf(atIso), attr: arrivalAttr(source), n: 1, ttlDays: 2 },
    { pk: ARRIVALS_BY_HOUR, sk: hourOf(atIso), attr: source, n: 1, ttlDays: 3 },
  ];
}
