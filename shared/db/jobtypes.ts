import { BatchGetCommand, GetCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { tableName } from '../config.ts';
import type { Jobtype, JobtypeSettings } from '../core/jobtype/jobtype.ts';
import { db } from './client.ts';
import { JOBTYPE_FIELDS, pick } from './items.ts';

const table = () => tableName('jobtypes');

export async function getJobtype(name: string): Promise<Jobtype | undefined> {
  const r = await db().send(new GetCommand({ TableName: table(), Key: { name } }));
  return r.Item as Jobtype | undefined;
}

export async function listJobtypes(): Promise<Jobtype[]> {
  const out: Jobtype[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const r = await db().send(new ScanCommand({ TableName: table(), ExclusiveStartKey: start }));
    out.push(...(r.Items ?? []).map((it) => pick(JOBTYPE_FIELDS, it)));
    start = r.LastEvaluatedKey;
  } while (start);
  return out.map((t) => ({ ...t, inFlight: t.inFlight ?? 0 })).sort((a, b) => a.name.localeCompare(b.name));
}

/** Job types by name (missing ones are absent from the map). */
export async function getJobtypes(names: string[]): Promise<Map<string, Jobtype>> {
  const out = new Map<string, Jobtype>();
  const unique = [...new Set(names)];
  for (let i = 0; i < unique.length; i += 100) {
    const keys = unique.slice(i, i + 100).map((name) => ({ name }));
    let req: Record<string, { Keys: Record<string, unknown>[] }> | undefined = { [table()]: { Keys: keys } };
    while (req && Object.keys(req).length) {
      const r = await db().send(new BatchGetCommand({ RequestItems: req }));
      for (const it of (r.Responses?.[table()] ?? []) as Jobtype[]) out.set(it.name, it);
      req = r.UnprocessedKeys as typeof req;
    }
  }
  return out;
}

/**
 * Sets a job type's cap, default priority, deadline or sampling; `null` removes a setting.
 * `inFlight` is initialised so the claim's `inFlight < limit` condition can be evaluated.
 */
export async function setJobtype(name: string, s: JobtypeSettings): Promise<Jobtype> {
  const set: string[] = ['inFlight = if_not_exists(inFlight, :zero)'];
  const remove: string[] = [];
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = { ':zero': 0 };
  for (const [k, v] of Object.entries(s)) {
    if (v === undefined) continue;
    names[`#${k}`] = k;
    if (v === null) remove.push(`#${k}`);
    else {
      set.push(`#${k} = :${k}`);
      values[`:${k}`] = v;
    }
  }
  const r = await db().send(
    new UpdateCommand({
      TableName: table(),
      Key: { name },
      UpdateExpression: `SET ${set.join(', ')}${remove.length ? ` REMOVE ${remove.join(', ')}` : ''}`,
      ExpressionAttributeNames: Object.keys(names).length ? names : undefined,
      ExpressionAttributeValues: values,
      ReturnValues: 'ALL_NEW',
    }),
  );
  return pick(JOBTYPE_FIELDS, r.Attributes!);
}
