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
 * What a change adds to the counters and aggregates: per-state counts (global and per job type),
 * the defined→started latency histogram and per-minute throughput. Pure, so the arithmetic is
 * unit-tested; the stream function only applies the deltas.
 */
export function deltasOf(ch: Change): Delta[] {
  const out: Delta[] = [];
  const oldState = ch.old?.state as string | undefined;
  const newState = ch.new?.state as string | undefined;
  if (oldState === newState) return out;
  const count = (state: string | undefined, n: number, item: Record<string, unknown> | undefined) => {
    if (!state) return;
    out.push({ pk: 'count', sk: `${ch.entity}#${state}`, attr: 'n', n });
    if (ch.entity === 'jobs' && item?.jobtype)
      out.push({ pk: 'count', sk: `jobtype#${String(item.jobtype)}#${state}`, attr: 'n', n });
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
  }
  return out;
}
