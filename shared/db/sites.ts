import { GetCommand, PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { tableName } from '../config.ts';
import { NotFoundError } from '../core/errors.ts';
import type { Site, SiteInput } from '../core/site/site.ts';
import { nowIso } from '../core/util/time.ts';
import { db } from './client.ts';
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
  const r = await db().send(new ScanCommand({ TableName: table() }));
  return (r.Items ?? []).map((it) => pick(SITE_FIELDS, it)).sort((a, b) => a.name.localeCompare(b.name));
}
