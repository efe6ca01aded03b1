import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { tableName } from '../config.ts';
import { db } from './client.ts';

/** Counters per entity and state, kept by the stats stream consumer. */
export async function counters(): Promise<Record<string, Record<string, number>>> {
  const r = await db().send(
    new QueryCommand({
      TableName: tableName('stats'),
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': 'count' },
    }),
  );
  const out: Record<string, Record<string, number>> = {};
  for (const it of r.Items ?? []) {
    const [entity, state] = String(it.sk).split('#');
    if (!entity || !state) continue;
    out[entity] ??= {};
    out[entity][state] = Number(it.n ?? 0);
  }
  return out;
}

export async function summary() {
  const c = await counters();
  return { generatedAt: new Date().toISOString(), jobs: c.jobs ?? {}, pilots: c.pilots ?? {} };
}
