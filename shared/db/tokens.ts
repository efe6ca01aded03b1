import { GetCommand, PutCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { tableName } from '../config.ts';
import { type Caller, Role } from '../core/auth/roles.ts';
import {
  formatToken,
  hashSecret,
  newSecret,
  newTokenId,
  parseToken,
  secretMatches,
} from '../core/auth/token.ts';
import { NotFoundError } from '../core/errors.ts';
import { nowIso } from '../core/util/time.ts';
import { db } from './client.ts';
import { isConditionFailed } from './conditions.ts';

/** A token as listed: never the secret. */
export interface TokenInfo {
  id: string;
  role: Role;
  name: string;
  createdAt: string;
  expiresAt?: string;
  revokedAt?: string;
}

interface TokenItem extends TokenInfo {
  hash: string;
}

const table = () => tableName('tokens');

/** Creates a token; the returned `token` string is the only time the secret exists in clear. */
export async function createToken(input: {
  role: Role;
  name: string;
  expiresAt?: string;
}): Promise<TokenInfo & { token: string }> {
  const id = newTokenId();
  const secret = newSecret();
  const item: TokenItem = {
    id,
    role: input.role,
    name: input.name,
    createdAt: nowIso(),
    expiresAt: input.expiresAt,
    hash: hashSecret(secret),
  };
  await db().send(
    new PutCommand({ TableName: table(), Item: item, ConditionExpression: 'attribute_not_exists(id)' }),
  );
  const { hash: _hash, ...info } = item;
  return { ...info, token: formatToken(id, secret) };
}

export async function listTokens(): Promise<TokenInfo[]> {
  const out: TokenInfo[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const r = await db().send(new ScanCommand({ TableName: table(), ExclusiveStartKey: start }));
    for (const it of (r.Items ?? []) as TokenItem[]) {
      const { hash: _hash, ...info } = it;
      out.push(info);
    }
    start = r.LastEvaluatedKey;
  } while (start);
  return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
}

export async function revokeToken(id: string): Promise<TokenInfo> {
  try {
    const r = await db().send(
      new UpdateCommand({
        TableName: table(),
        Key: { id },
        UpdateExpression: 'SET revokedAt = if_not_exists(revokedAt, :now)',
        ConditionExpression: 'attribute_exists(id)',
        ExpressionAttributeValues: { ':now': nowIso() },
        ReturnValues: 'ALL_NEW',
      }),
    );
    cache.delete(id);
    const { hash: _hash, ...info } = r.Attributes as TokenItem;
    return info;
  } catch (err) {
    if (isConditionFailed(err)) throw new NotFoundError('token', id);
    throw err;
  }
}

/**
 * Verified tokens are cached per container for a few seconds so the hot poll path does not
 * read the tokens table on every request; a revocation takes effect within CACHE_MS.
 */
const CACHE_MS = 5000;
const cache = new Map<string, { item: TokenItem | undefined; at: number }>();

/** Resolves a bearer token to its caller, or undefined when unknown, revoked, expired or malformed. */
export async function verifyToken(token: string): Promise<Caller | undefined> {
  const parsed = parseToken(token);
  if (!parsed) return undefined;
  const now = Date.now();
  let hit = cache.get(parsed.id);
  if (!hit || now - hit.at > CACHE_MS) {
    const r = await db().send(new GetCommand({ TableName: table(), Key: { id: parsed.id } }));
    hit = { item: r.Item as TokenItem | undefined, at: now };
    if (cache.size > 10_000) cache.clear();
    cache.set(parsed.id, hit);
  }
  const item = hit.item;
  if (!item || item.revokedAt) return undefined;
  if (item.expiresAt && Date.parse(item.expiresAt) <= now) return undefined;
  if (!secretMatches(parsed.secret, item.hash)) return undefined;
  const role = Role.safeParse(item.role);
  if (!role.success) return undefined;
  return { tokenId: item.id, role: role.data, name: item.name };
}
