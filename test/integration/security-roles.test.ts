import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  type ApiRoute,
  apiRoutes,
  fillPath,
  MAY_CALL,
  ROLE_TABLE_END,
  ROLE_TABLE_START,
  ROLES,
  rawRequest,
  roleTable,
} from '../helpers/routes.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

let s: TestStack;
let routes: ApiRoute[];
/** Role → a live token of that role. */
const tokens: Record<string, string> = {};
/** Credentials that must never get past authentication: name → Authorization header (or none). */
const bad: Record<string, Record<string, string>> = {};

async function newToken(role: string, extra: Record<string, unknown> = {}) {
  const r = await s.call('POST', '/tokens', { body: { role, name: `matrix ${role}`, ...extra } });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body as { id: string; token: string };
}

before(async () => {
  s = await startTestStack();
  routes = await apiRoutes();
  tokens.admin = s.adminToken;
  tokens.pilot = s.pilotToken;
  for (const role of ['viewer', 'submitter', 'operator'] as const)
    tokens[role] = (await newToken(role)).token;
  // Revoked and expired credentials are admin tokens: the strongest role must not survive either.
  const revoked = await newToken('admin');
  assert.equal((await s.call('DELETE', `/tokens/${revoked.id}`)).status, 200);
  const expired = await newToken('admin', { expiresAt: new Date(Date.now() - 60_000).toISOString() });
  const adminId = s.adminToken.split('_')[1]!;
  bad['no token'] = {};
  bad.malformed = { authorization: 'Bearer p3s_nonsense' };
  bad['not bearer'] = { authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` };
  bad['wrong secret'] = { authorization: `Bearer p3s_${adminId}_${'A'.repeat(43)}` };
  bad.revoked = { authorization: `Bearer ${revoked.token}` };
  bad.expired = { authorization: `Bearer ${expired.token}` };
});
after(async () => {
  await s.close();
});

/** A dummy call: valid-looking path, `{}` for methods with a body. */
function callRoute(r: ApiRoute, headers: Record<string, string>) {
  const withBody = r.method !== 'GET' && r.method !== 'HEAD';
  return rawRequest(s.url, r.method, fillPath(r.path), {
    headers: withBody ? { ...headers, 'content-type': 'application/json' } : headers,
    body: withBody ? '{}' : undefined,
  });
}

describe('role matrix', () => {
  test('every route of serverless.yml declares who may call it', async () => {
    // apiRoutes() throws, naming them, for routes whose handler has no `.access`.
    assert.ok(routes.length >= 20, `only ${routes.length} routes found`);
    for (const key of ['GET /healthz', 'POST /jobs', 'POST /pilots/{id}/report', 'POST /tokens'])
      assert.ok(
        routes.some((r) => r.key === key),
        `${key} is missing`,
      );
  });

  test('every route answers every role, no token, and bad tokens as the role table says', async () => {
    const wrong: string[] = [];
    let calls = 0;
    for (const r of routes) {
      for (const role of ROLES) {
        const res = await callRoute(r, { authorization: `Bearer ${tokens[role]}` });
        calls++;
        const may = MAY_CALL[r.access].includes(role);
        const ok = may ? res.status !== 401 && res.status !== 403 && res.status < 500 : res.status === 403;
        if (!ok)
          wrong.push(`${r.key} as ${role}: ${res.status} (expected ${may ? 'allowed' : '403'}) ${res.text}`);
      }
      for (const [name, headers] of Object.entries(bad)) {
        const res = await callRoute(r, headers);
        calls++;
        const ok = r.access === 'public' ? res.status < 500 && res.status !== 401 : res.status === 401;
        if (!ok)
          wrong.push(
            `${r.key} with ${name}: ${res.status} (expected ${r.access === 'public' ? 'allowed' : '401'})`,
          );
      }
    }
    assert.deepEqual(wrong, [], `${wrong.length} of ${calls} calls answered wrongly`);
    assert.equal(calls, routes.length * (ROLES.length + Object.keys(bad).length));
  });

  test('a 401 asks for a bearer token and a 403 names the role', async () => {
    const r = routes.find((x) => x.key === 'POST /tokens')!;
    const unauth = await callRoute(r, {});
    assert.equal(unauth.headers['www-authenticate'], 'Bearer');
    assert.equal(JSON.parse(unauth.text).code, 'unauthorized');
    const denied = await callRoute(r, { authorization: `Bearer ${tokens.operator}` });
    assert.equal(JSON.parse(denied.text).code, 'forbidden');
    assert.match(JSON.parse(denied.text).message, /role operator/);
  });

  test('the README role table is the one the server enforces', () => {
    const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');
    const a = readme.indexOf(ROLE_TABLE_START);
    const b = readme.indexOf(ROLE_TABLE_END);
    assert.ok(a >= 0 && b > a, 'README.md has no role table block');
    assert.equal(
      readme.slice(a + ROLE_TABLE_START.length, b).trim(),
      roleTable(routes),
      'README role table is stale: run `node --import tsx scripts/gen-role-table.ts --write`',
    );
  });
});
