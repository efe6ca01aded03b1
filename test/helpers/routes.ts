import { randomUUID } from 'node:crypto';
import { Agent, request as httpRequest } from 'node:http';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { loadHandler } from '../../localstack/runtime/invoke.ts';
import { loadServerless } from '../../localstack/runtime/serverless-config.ts';
import type { Stack } from '../../localstack/stack.ts';
import type { Access } from '../../shared/core/auth/roles.ts';

/** One httpApi route of serverless.yml and who may call it. */
export interface ApiRoute {
  /** serverless.yml function name. */
  fn: string;
  method: string;
  /** Path template as declared (`/jobs/{id}`). */
  path: string;
  /** `METHOD /path` — API Gateway's route key. */
  key: string;
  access: Access;
  /** The handler takes the monitor's sign-in cookie (its GET pages and live.json). */
  cookie: boolean;
  /** The handler reads a JSON body (and refuses other content types). */
  json: boolean;
  /** True when the handler is not built by `route()` and its access comes from RAW_HANDLERS. */
  raw: boolean;
}

/**
 * Handlers not built by `shared/http/route.ts` (so they carry no `.access`), with the access they
 * enforce themselves. A route missing from here whose handler has no `.access` fails the role
 * matrix: every new route is either a `route()` or is written down here on purpose.
 */
const RAW_HANDLERS: Record<string, Access> = {};

const ACCESS: ReadonlySet<string> = new Set(['public', 'viewer', 'submitter', 'operator', 'admin', 'pilot']);

/**
 * Every httpApi route of serverless.yml (as the local stack serves them), with the access its
 * handler declares. Throws, naming them, when routes have no declared access.
 */
export async function apiRoutes(): Promise<ApiRoute[]> {
  const model = loadServerless('local');
  const out: ApiRoute[] = [];
  const missing: string[] = [];
  for (const fn of model.functions) {
    if (!fn.http.length) continue;
    const handler = (await loadHandler(fn)) as { access?: unknown; cookie?: unknown; json?: unknown };
    for (const h of fn.http) {
      const key = `${h.method} ${h.path}`;
      const declared = handler.access;
      const raw = RAW_HANDLERS[key];
      if (typeof declared === 'string' && ACCESS.has(declared)) {
        out.push({
          fn: fn.name,
          method: h.method,
          path: h.path,
          key,
          access: declared as Access,
          cookie: handler.cookie === true,
          json: handler.json === true,
          raw: false,
        });
      } else if (raw) {
        out.push({
          fn: fn.name,
          method: h.method,
          path: h.path,
          key,
          access: raw,
          cookie: false,
          json: false,
          raw: true,
        });
      } else {
        missing.push(`${key} (${fn.module}.${fn.exportName})`);
      }
    }
  }
  if (missing.length) {
    throw new Error(
      `routes without a declared access (build them with route() or list them in RAW_HANDLERS): ${missing.join(', ')}`,
    );
  }
  const cmp = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);
  return out.sort((a, b) => cmp(a.path, b.path) || cmp(a.method, b.method));
}

/** The path parameter names of a template (`/pilots/{id}/poll` → ['id']); `{x+}` gives 'x+'. */
export function pathParams(path: string): string[] {
  return [...path.matchAll(/\{([A-Za-z0-9_]+\+?)\}/g)].map((m) => m[1]!);
}

/**
 * A valid-looking value for a path parameter: token ids are 12 letters or digits, every other
 * `id` is a uuid, names are short slugs. The entity does not exist, so a call with sufficient
 * rights answers 400 or 404 — never 401/403, never a change.
 */
export function sampleParam(path: string, param: string): string {
  if (param.endsWith('+')) return 'sample/file.root';
  if (param === 'id' && path.startsWith('/tokens/')) return 'Zz9Zz9Zz9Zz9';
  if (param === 'id' || param.endsWith('Id')) return randomUUID();
  return 'security-sample';
}

/** Fills a template's parameters: `values` (raw, will be URI-encoded) or the sample values. */
export function fillPath(path: string, values: Record<string, string> = {}): string {
  return path.replace(/\{([A-Za-z0-9_]+\+?)\}/g, (_m, p: string) => {
    const v = values[p] ?? sampleParam(path, p);
    return p.endsWith('+') ? v.split('/').map(encodeURIComponent).join('/') : encodeURIComponent(v);
  });
}

/** Roles, least privileged first, as the role table lists them. */
export const ROLES = ['viewer', 'submitter', 'operator', 'admin', 'pilot'] as const;

const keepAlive = new Agent({ keepAlive: true, maxSockets: 8 });

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/**
 * One HTTP request with nothing added or normalised: the path is sent byte for byte (odd
 * percent-escapes included), redirects are not followed, header values go as given.
 */
export function rawRequest(
  baseUrl: string,
  method: string,
  path: string,
  opts: { headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<RawResponse> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        headers: {
          ...(opts.body !== undefined ? { 'content-length': String(Buffer.byteLength(opts.body)) } : {}),
          ...opts.headers,
        },
        agent: keepAlive,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString(),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/**
 * Who may call a route of each access level — written out here, not derived from
 * `shared/core/auth/roles.ts`, so the role-matrix test checks the server against this table.
 * `pilot` routes also take the admin (for repairs; without a pilot key).
 */
export const MAY_CALL: Record<Access, readonly (typeof ROLES)[number][]> = {
  public: ROLES,
  viewer: ['viewer', 'submitter', 'operator', 'admin'],
  submitter: ['submitter', 'operator', 'admin'],
  operator: ['operator', 'admin'],
  admin: ['admin'],
  pilot: ['pilot', 'admin'],
};

export const ROLE_TABLE_START = '<!-- role-table:start (generated by scripts/gen-role-table.ts) -->';
export const ROLE_TABLE_END = '<!-- role-table:end -->';

/**
 * The README's role table: one row per route, ✓ where the role may call it; `cookie` where the
 * monitor's sign-in cookie stands in for the Authorization header.
 */
export function roleTable(routes: ApiRoute[]): string {
  const head = ['route', 'access', ...ROLES, 'no token', 'cookie'];
  const rows = routes.map((r) => [
    `\`${r.key}\``,
    r.access,
    ...ROLES.map((role) => (MAY_CALL[r.access].includes(role) ? '✓' : '')),
    r.access === 'public' ? '✓' : '',
    r.cookie ? '✓' : '',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...rows.map(line)].join('\n');
}

/** A copy with object keys in order, so equal items stringify equally. */
function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v instanceof Set) return [...v].map(sortKeys).sort();
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]),
    );
  return v;
}

/**
 * Every item of every table of a test stack, in a stable order: compare two snapshots to show a
 * request changed nothing.
 */
export async function tableSnapshot(s: Stack): Promise<Record<string, string[]>> {
  const client = new DynamoDBClient({
    endpoint: s.dynamoEndpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'p3slocal', secretAccessKey: 'p3slocal' },
  });
  const ddb = DynamoDBDocumentClient.from(client);
  try {
    const out: Record<string, string[]> = {};
    for (const t of s.tables) {
      // The stats table is derived from the other tables' streams and written asynchronously
      // (a previous test's job can still be counted now); any change it reflects shows up in
      // the table it came from.
      if (t.entity === 'stats') continue;
      const items: string[] = [];
      let start: Record<string, unknown> | undefined;
      do {
        const r = await ddb.send(
          new ScanCommand({ TableName: t.name, ExclusiveStartKey: start, ConsistentRead: true }),
        );
        for (const it of r.Items ?? []) items.push(JSON.stringify(sortKeys(it)));
        start = r.LastEvaluatedKey;
      } while (start);
      out[t.entity] = items.sort();
    }
    return out;
  } finally {
    client.destroy();
  }
}

/**
 * Attribute names the tables keep for themselves — index keys, queue order, TTL, hashes, claims,
 * packed bodies — written here apart from the server's answer lists (shared/db/items.ts): no
 * answer may carry one at any depth.
 */
export const INTERNAL_ATTRIBUTES: ReadonlySet<string> = new Set([
  'seq',
  'qpk',
  'qsk',
  'lpk',
  'ipk',
  'isk',
  'keyHash',
  'hash',
  'ttl',
  'claimedAt',
  'killJobId',
  'spec',
  'body',
  // The sweeper's: sparse index keys of open workflows and pending files, the counter's op count.
  'opk',
  'ppk',
  'inFlightOps',
]);

/**
 * Where in `v` (an answer) internal attributes are: `.jobs[0].seq`, … Environments are the
 * users' own names (a job may well set `ttl`): not looked into.
 */
export function internalKeys(v: unknown, at = ''): string[] {
  if (Array.isArray(v)) return v.flatMap((x, i) => internalKeys(x, `${at}[${i}]`));
  if (!v || typeof v !== 'object') return [];
  return Object.entries(v).flatMap(([k, x]) => [
    ...(INTERNAL_ATTRIBUTES.has(k) ? [`${at}.${k}`] : []),
    ...(k === 'env' ? [] : internalKeys(x, `${at}.${k}`)),
  ]);
}
