import { BatchGetCommand } from '@aws-sdk/lib-dynamodb';
import { tableName } from '../config.ts';
import { ARRIVALS_BY_HOUR } from '../core/stats/job-events.ts';
import { db } from './client.ts';

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
  for (let i = 0; i < keys.length; i += 100) {
    let req: Record<string, { Keys: Record<string, unknown>[] }> | undefined = {
      [table]: { Keys: keys.slice(i, i + 100) },
    };
    while (req && Object.keys(req).length) {
      const r = await db().send(new BatchGetCommand({ RequestItems: req }));
      for (const it of r.Responses?.[table] ?? []) {
        const { pk, sk, ttl: _t, ...rest } = it as Record<string, unknown>;
        (pk === 'tp' ? tp : arrivals).set(String(sk), rest as Aggregate);
      }
      req = r.UnprocessedKeys as typeof req;
    }
  }
  return { tp, arrivals };
}
