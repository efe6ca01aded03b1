import { DeleteCommand, GetCommand, PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { tableName } from '../config.ts';
import { NotFoundError } from '../core/errors.ts';
import type { Site, SiteInput } from '../core/site/site.ts';
import { nowIso } from '../core/util/time.ts';
import { db } from './client.ts';
import { isConditionFailed } from './conditions.ts';
import { pick, SITE_FIELDS } from './items.ts';

const table = () => tableName('sites');

export async function putSite(name: string, s: SiteInput): Promise<Site> {
  const item: Site = { ...s, name, updatedAt: nowIso() };
  await db().send(new PutCommand({ TableName: table(), Item: item }));
  return item;
}

export async function findSite(name: string): Promise<Site | undefined> {
  const r = await db().send(new GetCommand({ TableName: table(), Key: { name } }));
  return r.Item && pick(SITE_FIELDS, r.Item);
}

export async function getSite(name: string): Promise<Site> {
  const s = await findSite(name);
  if (!s) throw new NotFoundError('site', name);
  return s;
}

export async function listSites(): Promise<Site[]> {
  const out: Site[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const r = await db().send(new ScanCommand({ TableName: table(), ExclusiveStartKey: start }));
    out.push(...(r.Items ?? []).map((it) => pick(SITE_FIELDS, it)));
    start = r.LastEvaluatedKey;
  } while (start);
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Deletes a site. Pilots that declared it keep running; they (and new ones) get no site
 * defaults until it is set again.
 */
export async function deleteSite(name: string): Promise<void> {
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
    if (isConditionFailed(err)) throw new NotFoundError('site', name);
    throw err;
  }
}
