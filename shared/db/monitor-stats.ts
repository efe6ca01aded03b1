import { tableName } from '../config.ts';
import { ARRIVALS_BY_HOUR } from '../core/stats/job-events.ts';
import { batchGet } from './batch.ts';

export type Aggregate = Record<string, number>;

/**
 * The per-minute throughput items of the last `minutes` minutes and the hourly arrival items of
 * the last `hours` hours (and the current one), in one BatchGetItem (≤ 100 keys): what the
 * dashboard's throughput, per-type failure counts and silent-source alerts read. Missing items
 * (nothing happened) are absent from the maps.
 */
export async function recentAggregates(
  nowMs: number,
  minutes = 60,
  hours = 24,
): Promise<{ tp: Map<string, Aggregate>; arrivals: Map<string, Aggregate> }> {
  const table = tableName('stats');
  const keys: { pk: string; sk: string }[] = [];
  for (let i = 0; i < minutes; i++)
    keys.push({ pk: 'tp', sk: new Date(nowMs - i * 60_000).toISOString().slice(0, 16) });
  for (let i = 0; i <= hours; i++)
    keys.push({ pk: ARRIVALS_BY_HOUR, sk: new Date(nowMs - i * 3_600_000).toISOString().slice(0, 13) });
  const tp = new Map<string, Aggregate>();
  const arrivals = new Map<string, Aggregate>();
  for (const it of await batchGet(table, keys)) {
    const { pk, sk, ttl: _t, ...rest } = it;
    (pk === 'tp' ? tp : arrivals).set(String(sk), rest as Aggregate);
  }
  return { tp, arrivals };
}
