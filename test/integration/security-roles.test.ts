import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Access } from '../../shared/core/auth/roles.ts';
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

/**
 * The role matrix: who may call each route, written out here — not read from the handlers — so
 * changing a route's access (and regenerating the README) fails this test until the table below
 * is changed on purpose. `cookie`: the route takes the monitor's sign-in cookie instead of the
 * Authorization header (the monitor's GET pages and live.json, nothing else); `json`: it reads a
 * JSON body and refuses any other Content-Type with a 415.
 */
type Flag = 'cookie' | 'json';
const EXPECTED: Record<string, readonly [Access, ...Flag[]]> = {
  'GET /': ['viewer', 'cookie'],
  'GET /dags': ['viewer'],
  'POST /dags': ['submitter', 'json'],
  'DELETE /dags/{name}': ['operator'],
  'GET /dags/{name}': ['viewer'],
  'GET /data': ['viewer'],
  'POST /data': ['submitter', 'json'],
  'GET /data/{id}': ['viewer'],
  'GET /datatypes': ['viewer'],
  'POST /datatypes': ['submitter', 'json'],
  'DELETE /datatypes/{name}': ['submitter'],
  'GET /healthz': ['public'],
  'GET /jobs': ['viewer'],
  'POST /jobs': ['submitter', 'json'],
  'DELETE /jobs/{id}': ['operator'],
  'GET /jobs/{id}': ['viewer'],
  'PATCH /jobs/{id}': ['operator', 'json'],
  'POST /jobs/{id}/kill': ['operator'],
  'GET /jobtypes': ['viewer'],
  'PUT /jobtypes/{name}': ['operator', 'json'],
  'GET /monitor/assets/{file}': ['public'],
  'GET /monitor/data': ['viewer', 'cookie'],
  'GET /monitor/jobs': ['viewer', 'cookie'],
  'GET /monitor/jobs/{id}': ['viewer', 'cookie'],
  'GET /monitor/jobtypes': ['viewer', 'cookie'],
  'GET /monitor/live.json': ['viewer', 'cookie'],
  'GET /monitor/pilots': ['viewer', 'cookie'],
  'GET /monitor/pilots/{id}': ['viewer', 'cookie'],
  'GET /monitor/signin': ['public'],
  'POST /monitor/signin': ['public'],
  'POST /monitor/signout': ['public'],
  'GET /monitor/workflows': ['viewer', 'cookie'],
  'GET /monitor/workflows/{id}': ['viewer', 'cookie'],
  'GET /monitor/dags': ['viewer', 'cookie'],
  'GET /monitor/dags/{name}': ['viewer', 'cookie'],
  'GET /monitor/datatypes': ['viewer', 'cookie'],
  'GET /monitor/rules': ['viewer', 'cookie'],
  'GET /monitor/rules/{name}': ['viewer', 'cookie'],
  'GET /monitor/sites': ['viewer', 'cookie'],
  'POST /purge': ['operator', 'json'],
  'GET /pilots': ['viewer'],
  'POST /pilots': ['pilot', 'json'],
  'POST /pilots/kill': ['operator', 'json'],
  'GET /pilots/{id}': ['viewer'],
  'POST /pilots/{id}/poll': ['pilot', 'json'],
  'POST /pilots/{id}/report': ['pilot', 'json'],
  'GET /rules': ['viewer'],
  'POST /rules': ['submitter', 'json'],
  'DELETE /rules/{name}': ['operator'],
  'GET /rules/{name}': ['viewer'],
  'PATCH /rules/{name}': ['submitter', 'json'],
  'GET /sites': ['viewer'],
  'GET /sites/{name}': ['viewer'],
  'PUT /sites/{name}': ['operator', 'json'],
  'DELETE /sites/{name}': ['operator'],
  'GET /summary': ['viewer'],
  'GET /tokens': ['admin'],
  'POST /tokens': ['admin', 'json'],
  'DELETE /tokens/{id}': ['admin'],
  'GET /workflows': ['viewer'],
  'POST /workflows': ['submitter', 'json'],
  'DELETE /workflows/{id}': ['operator'],
  'GET /workflows/{id}': ['viewer'],
  'POST /workflows/{id}/cancel': ['submitter'],
  'POST /workflows/{id}/define': ['submitter'],
};
const accessOf = (r: ApiRoute): Access => EXPECTED[r.key]![0];
const has = (r: ApiRoute, flag: Flag) => EXPECTED[r.key]!.includes(flag);

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
  // Hundreds of deliberate bad credentials from one address: the per-address limit on failed
  // authentications (its own test: security-ratelimit) would answer 429s; off here.
  s = await startTestStack({ P3S_AUTH_FAIL_BURST: '0' });
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

/** A dummy call: valid-looking path, `{}` as JSON for methods with a body (unless `body` says otherwise). */
function callRoute(
  r: ApiRoute,
  headers: Record<string, string>,
  body: { text: string; type?: string } = { text: '{}', type: 'application/json' },
) {
  const withBody = r.method !== 'GET' && r.method !== 'HEAD';
  const h = { ...headers };
  if (withBody && body.type) h['content-type'] = body.type;
  return rawRequest(s.url, r.method, fillPath(r.path), {
    headers: h,
    body: withBody ? body.text : undefined,
  });
}

const cookieOf = (token: string) => ({
  cookie: `p3s_token=${encodeURIComponent(token)}`,
  accept: 'text/html',
});

describe('role matrix', () => {
  test('serverless.yml has exactly the routes of the expected table', () => {
    const served = routes.map((r) => r.key).sort();
    assert.deepEqual(
      served,
      Object.keys(EXPECTED).sort(),
      'a route was added or removed: write it in EXPECTED',
    );
  });

  test('each handler declares the access and cookie use the table expects (what the README shows)', () => {
    const wrong = routes.flatMap((r) => {
      const out: string[] = [];
      if (r.access !== accessOf(r)) out.push(`${r.key}: declares ${r.access}, expected ${accessOf(r)}`);
      if (r.cookie !== has(r, 'cookie'))
        out.push(`${r.key}: cookie ${r.cookie}, expected ${has(r, 'cookie')}`);
      return out;
    });
    assert.deepEqual(wrong, []);
  });

  test('every route answers every role, no token, and bad tokens as the expected table says', async () => {
    const wrong: string[] = [];
    let calls = 0;
    for (const r of routes) {
      const access = accessOf(r);
      for (const role of ROLES) {
        const res = await callRoute(r, { authorization: `Bearer ${tokens[role]}` });
        calls++;
        const may = MAY_CALL[access].includes(role);
        const ok = may ? res.status !== 401 && res.status !== 403 && res.status < 500 : res.status === 403;
        if (!ok)
          wrong.push(`${r.key} as ${role}: ${res.status} (expected ${may ? 'allowed' : '403'}) ${res.text}`);
      }
      for (const [name, headers] of Object.entries(bad)) {
        const res = await callRoute(r, headers);
        calls++;
        const ok = access === 'public' ? res.status < 500 && res.status !== 401 : res.status === 401;
        if (!ok)
          wrong.push(
            `${r.key} with ${name}: ${res.status} (expected ${access === 'public' ? 'allowed' : '401'})`,
          );
      }
    }
    assert.deepEqual(wrong, [], `${wrong.length} of ${calls} calls answered wrongly`);
    assert.equal(calls, routes.length * (ROLES.length + Object.keys(bad).length));
  });

  test('the sign-in cookie opens only the monitor pages and live.json: every other route wants the header', async () => {
    const wrong: string[] = [];
    for (const r of routes) {
      if (accessOf(r) === 'public') continue;
      // An admin's cookie, and the body a page of another site can send without asking.
      const res = await callRoute(r, cookieOf(tokens.admin!), { text: '{}', type: 'text/plain' });
      if (has(r, 'cookie')) {
        if (res.status === 401 || res.status === 403 || res.status >= 500)
          wrong.push(`${r.key} with the cookie: ${res.status} (expected allowed)`);
      } else if (res.status !== 401 || !/Authorization header/.test(JSON.parse(res.text).message))
        wrong.push(`${r.key} with the cookie: ${res.status} ${res.text} (expected 401 naming the header)`);
    }
    assert.deepEqual(wrong, []);
  });

  test('routes that read JSON refuse other content types with a 415 naming it; the others ignore it', async () => {
    const wrong: string[] = [];
    const admin = { authorization: `Bearer ${tokens.admin}` };
    for (const r of routes) {
      if (r.method === 'GET') continue;
      for (const type of ['text/plain', 'application/x-www-form-urlencoded', undefined]) {
        const res = await callRoute(r, admin, { text: '{}', type });
        if (has(r, 'json')) {
          const body = JSON.parse(res.text);
          if (
            res.status !== 415 ||
            body.code !== 'unsupported_media_type' ||
            !/application\/json/.test(body.message)
          )
            wrong.push(`${r.key} as ${type ?? 'no type'}: ${res.status} ${res.text} (expected 415)`);
        } else if (res.status === 415 || res.status >= 500)
          wrong.push(`${r.key} as ${type ?? 'no type'}: ${res.status} (takes no JSON body)`);
      }
      if (has(r, 'json')) {
        const utf16 = await callRoute(r, admin, { text: '{}', type: 'application/json; charset=utf-16' });
        if (utf16.status !== 415) wrong.push(`${r.key} as utf-16: ${utf16.status} (expected 415)`);
        const plain = await callRoute(r, admin, { text: '{}', type: 'Application/JSON; charset=UTF-8' });
        if (plain.status === 415) wrong.push(`${r.key}: refused "Application/JSON; charset=UTF-8"`);
      }
    }
    assert.deepEqual(wrong, []);
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
