import { DeleteCommand, PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { tableName } from '../config.ts';
import type { Datatype } from '../core/data/datatype.ts';
import { NotFoundError } from '../core/errors.ts';
import { nowIso } from '../core/util/time.ts';
import { db } from './client.ts';
import { isConditionFailed } from './conditions.ts';
import { DATATYPE_FIELDS, pick } from './items.ts';

/** Datatypes (name → extension), keyed by name. A small table: listing is a Scan. */
const table = () => tableName('datatypes');

export type StoredDatatype = Datatype & { updatedAt: string; user?: string };

/** Creates or replaces a datatype by name (the original's `registertype` upsert). */
export async function putDatatype(d: Datatype, user?: string): Promise<StoredDatatype> {
  const item: StoredDatatype = { ...d, updatedAt: nowIso(), user };
  await db().send(new PutCommand({ TableName: table(), Item: item }));
  return item;
}

export async function listDatatypes(): Promise<StoredDatatype[]> {
  const out: StoredDatatype[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const r = await db().send(new ScanCommand({ TableName: table(), ExclusiveStartKey: start }));
    out.push(...(r.Items ?? []).map((it) => pick(DATATYPE_FIELDS, it)));
    start = r.LastEvaluatedKey;
  } while (start);
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

export async function deleteDatatype(name: string): Promise<void> {
  try {
    await db().send(
      new DeleteCommand({
        TableName: table(),
        Key: { name },
        ConditionExpression: 'attribute_exists(#n)',
        ExpressionAttributeNames: { '#n': 'name' },
      }),
    );
  } catch (err) {
    if (isConditionFailed(err)) throw new NotFoundError('datatype', name);
    throw err;
  }
}
