import { GetCommand, PutCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { config, tableName } from '../config.ts';
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
import { Lru } from '../core/util/lru.ts';
import { nowIso } from '../core/util/time.ts';
import { db } from './client.ts';
import { isConditionFailed } from './conditions.ts';
import { pick, TOKEN_FIELDS } from './items.ts';

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

/** A token as the API shows it: never the hash. */
const tokenAnswer = (item: TokenItem): TokenInfo =>
  pick(TOKEN_FIELDS, item as unknown as Record<string, unknown>);

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
  caches().unknown.delete(id);
  return { ...tokenAnswer(item), token: formatToken(id, secret) };
}

export async function listTokens(): Promise<TokenInfo[]> {
  const out: TokenInfo[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const r = await db().send(new ScanCommand({ TableName: table(), ExclusiveStartKey: start }));
    for (const it of (r.Items ?? []) as TokenItem[]) {
      out.push(tokenAnswer(it));
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
    caches().known.delete(id);
    return tokenAnswer(r.Attributes as TokenItem);
  } catch (err) {
    if (isConditionFailed(err)) throw new NotFoundError('token', id);
    throw err;
  }
}

/**
 * Token look-ups are cached per container so the hot poll path does not read the tokens table
 * on every request. Two caches, both LRU-bounded (no wholesale clear: a flood of unknown ids
 * cannot push out the tokens in use):
 * - known ids (their item: live, revoked or expired), re-read after POSITIVE_MS — the bound on
 *   how long a revocation takes to reach other containers (docs/security.md: 5 s);
 * - ids the table does not have, for NEGATIVE_MS, so repeating an unknown token costs no read.
 *   Ids are random; a new token's id cannot be one somebody probed before, and the container
 *   that creates a token forgets its negative entry anyway.
 */
const POSITIVE_MS = 5000;
const NEGATIVE_MS = 60_000;
let lrus: { known: Lru<string, { item: TokenItem; at: number }>; unknown: Lru<string, number> } | undefined;
/** Made on first use: the size is configuration, read once the environment is complete. */
function caches() {
  const max = config().P3S_TOKEN_CACHE_ENTRIES;
  lrus ??= { known: new Lru(max), unknown: new Lru(max) };
  return lrus;
}

function callerOf(item: TokenItem, secret: string, nowMs: number): Caller | undefined {
  if (item.revokedAt) return undefined;
  if (item.expiresAt && Date.parse(item.expiresAt) <= nowMs) return undefined;
  if (!secretMatches(secret, item.hash)) return undefined;
  const role = Role.safeParse(item.role);
  if (!role.success) return undefined;
  return { tokenId: item.id, role: role.data, name: item.name };
}

/**
 * One read of a token item at a time per id: 2,000 pilots starting together with the same token
 * make one read, not 2,000 (they all wait for the first).
 */
function readOnce(id: string): Promise<TokenItem | undefined> {
  let r = reading.get(id);
  if (!r) {
    r = db()
      .send(new GetCommand({ TableName: table(), Key: { id } }))
      .then((out) => out.Item as TokenItem | undefined)
      .finally(() => reading.delete(id));
    reading.set(id, r);
  }
  return r;
}
const reading = new Map<string, Promise<TokenItem | undefined>>();

/** Resolves a bearer token to its caller, or undefined when unknown, revoked, expired or malformed. */
export async function verifyToken(token: string): Promise<Caller | undefined> {
  const parsed = parseToken(token);
  if (!parsed) return undefined;
  const now = Date.now();
  const { known, unknown } = caches();
  const seenMissing = unknown.get(parsed.id);
  if (seenMissing !== undefined && now - seenMissing <= NEGATIVE_MS) return undefined;
  let hit = known.get(parsed.id);
  if (!hit || now - hit.at > POSITIVE_MS) {
    const item = await readOnce(parsed.id);
    if (!item) {
      known.delete(parsed.id);
      unknown.set(parsed.id, now);
      return undefined;
    }
    unknown.delete(parsed.id);
    hit = { item, at: now };
    known.set(parsed.id, hit);
  }
  return callerOf(hit.item, parsed.secret, now);
}

/**
 * Whether this container has verified `token` as valid before (its cached item matches, even if
 * due for a re-read): such a token is let through while its address is rate-limited, so one
 * client failing behind a shared address (NAT) does not lock out the others.
 */
export function knownValidToken(token: string): boolean {
  const parsed = parseToken(token);
  const hit = parsed && caches().known.peek(parsed.id);
  return Boolean(parsed && hit && callerOf(hit.item, parsed.secret, Date.now()));
}
