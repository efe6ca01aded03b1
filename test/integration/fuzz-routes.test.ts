import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { SimPilot } from '../helpers/pilot-sim.ts';
import {
  type ApiRoute,
  apiRoutes,
  fillPath,
  internalKeys,
  MAY_CALL,
  pathParams,
  type RawResponse,
  rawRequest,
  sampleParam,
  tableSnapshot,
} from '../helpers/routes.ts';
import { startTestStack, type TestStack, waitFor } from '../helpers/stack.ts';

/**
 * Property-based fuzzing of every route: malformed bodies, headers, query strings and path
 * parameters, credentials in headers and in the monitor's cookie, hostile sign-in targets and
 * origins. Properties: never a 5xx; a 4xx for anything that could change state; the sign-in
 * cookie is a 401 on every route but the monitor's GET pages; a JSON route called with another
 * content type by a caller it admits is a 415; a sign-in redirect stays on this origin; no
 * answer carries an internal attribute; afterwards no table changed and the server is healthy.
 * The seed is fixed (and printed) so a failure replays; P3S_FUZZ_SEED / P3S_FUZZ_RUNS (cases per
 * route) override it. P3S_FUZZ_BUDGET_S (default 120) bounds the whole run on a slow (shared CI)
 * machine: every route must run all its cases within it — a route the budget cuts short fails
 * the test, naming how many cases it ran (a run cut short is not a pass).
 */
const SEED = Number(process.env.P3S_FUZZ_SEED ?? 20_240_611);
const RUNS = Number(process.env.P3S_FUZZ_RUNS ?? 50);
const BUDGET_MS = Number(process.env.P3S_FUZZ_BUDGET_S ?? 120) * 1000;

let s: TestStack;
let routes: ApiRoute[];
const tokens: Record<string, string> = {};
let revoked = '';

before(async () => {
  // No reaper side effects while the fuzz runs: the seeded pilot must not time out.
  s = await startTestStack({ P3S_HEARTBEAT_TIMEOUT: '3600', P3S_DISPATCH_GRACE: '3600' });
  routes = await apiRoutes();
  tokens.admin = s.adminToken;
  tokens.pilot = s.pilotToken;
  for (const role of ['viewer', 'submitter', 'operator']) {
    tokens[role] = (await s.call('POST', '/tokens', { body: { role } })).body.token;
  }
  // Each token verified once before the bad credentials start: past the per-address limit on
  // failed authentications only tokens this container knows get through (auth-limit.ts).
  for (const role of ['viewer', 'submitter', 'operator', 'pilot'])
    assert.ok((await s.call('GET', '/summary', { token: tokens[role] })).status < 500);
  const r = await s.call('POST', '/tokens', { body: { role: 'admin', name: 'revoked' } });
  await s.call('DELETE', `/tokens/${r.body.id}`);
  revoked = r.body.token;
  // Something to list and page through, so listings and cursors run on real items.
  const sub = await s.call('POST', '/jobs', {
    body: [
      { name: 'a', jobtype: 'default', payload: '/bin/true' },
      { name: 'b', jobtype: 'fz', payload: '/bin/true' },
      { name: 'c', jobtype: 'default', payload: '/bin/true', env: { X: '1' } },
    ],
  });
  assert.equal(sub.status, 201);
  assert.equal((await new SimPilot(s).register()).status, 201);
  assert.equal((await s.call('PUT', '/sites/fz', { body: { pilots: 1 } })).status, 200);
  // The stream consumers (matchmaker, counters) react to the seed: take the "before" snapshot
  // once the tables stop changing.
  let last = '';
  await waitFor(
    async () => {
      const now = JSON.stringify(await tableSnapshot(s));
      const same = now === last;
      last = now;
      return same;
    },
    { intervalMs: 500, timeoutMs: 30_000, what: 'the seed to settle' },
  );
});
after(async () => {
  await s?.close();
});

// ---- arbitraries ------------------------------------------------------------------------------

/** Characters node's HTTP client lets through in a header value (tab, printable ASCII, Latin-1). */
const headerChar = fc
  .oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0x80, max: 0xff }), fc.constant(9))
  .map((c) => String.fromCharCode(c));
const headerText = (maxLength = 80) => fc.string({ unit: headerChar, maxLength });
const alnum = (n: number) =>
  fc.string({ unit: fc.constantFrom(...'ABCDEFGHJKabcdefgh23456789'), minLength: n, maxLength: n });

/** Credentials that must not get past authentication (as headers). */
const badAuth = (): fc.Arbitrary<Record<string, string>> => {
  const admin = tokens.admin!;
  return fc.oneof(
    fc.constant({}),
    fc
      .constantFrom(
        'Bearer',
        'Bearer ',
        'bearer p3s_',
        'Basic YWRtaW46YWRtaW4=',
        `Token ${admin}`,
        `Bearer ${admin}x`,
        `Bearer ${admin.slice(0, -1)}`,
        `Bearer ${admin} ${admin}`,
        `Bearer ${admin.toUpperCase()}`,
        `Bearer ${admin.replace('p3s_', 'P3S_')}`,
        `Bearer  ${revoked}`,
        `Bearer ${admin.slice(0, 16)}${'A'.repeat(43)}`,
        `${admin}`,
        'Bearer null',
        'Bearer undefined',
        'Bearer p3s___',
      )
      .map((authorization) => ({ authorization })),
    headerText().map((t) => ({ authorization: `Bearer ${t}` })),
    headerText().map((authorization) => ({ authorization })),
    fc.tuple(alnum(12), alnum(43)).map(([id, sec]) => ({ authorization: `Bearer p3s_${id}_${sec}` })),
    fc.integer({ min: 1000, max: 20_000 }).map((n) => ({ authorization: `Bearer ${'A'.repeat(n)}` })),
    fc
      .oneof(headerText(), fc.constantFrom('%E0%A4%A', '%zz', '%', revoked, `${admin}%00`, ''))
      .map((v) => ({ cookie: `p3s_token=${v}` })),
  );
};

const ROLE_NAMES = ['admin', 'admin', 'operator', 'submitter', 'viewer', 'pilot'] as const;

/** Who a case claims to be: bad credentials, a valid token in the header, or one in the sign-in cookie. */
interface Auth {
  kind: 'bad' | 'header' | 'cookie';
  role?: (typeof ROLE_NAMES)[number];
  headers: Record<string, string>;
}
const bad = (): fc.Arbitrary<Auth> => badAuth().map((headers) => ({ kind: 'bad', headers }));
const validAuth = (): fc.Arbitrary<Auth> =>
  fc.constantFrom(...ROLE_NAMES).map((role) => ({
    kind: 'header',
    role,
    headers: { authorization: `Bearer ${tokens[role]}` },
  }));
/** A valid token where only the monitor's GET pages take it: the cookie a browser sends on its own. */
const cookieAuth = (): fc.Arbitrary<Auth> =>
  fc.constantFrom(...ROLE_NAMES).map((role) => ({
    kind: 'cookie',
    role,
    headers: { cookie: `p3s_token=${encodeURIComponent(tokens[role]!)}` },
  }));

/** A path parameter no entity has: odd characters, bad escapes, huge, or plain garbage (raw URL text). */
const oddParam = fc.oneof(
  fc.constantFrom(
    '%zz',
    '%',
    '%E0%A4%A',
    '%00',
    '%2e%2e',
    '%2F',
    'a%2Fb',
    '%20',
    '%0A',
    '%FF',
    '%C0%AF',
    "'%20OR%201=1--",
    '%3Cscript%3Ealert(1)%3C%2Fscript%3E',
    '*',
    '$',
    '~',
    'null',
    '__proto__',
    'constructor',
    '00000000-0000-0000-0000-00000000000G',
    'A'.repeat(1000),
  ),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 64 }).map(encodeURIComponent),
  fc.string({ unit: 'binary', maxLength: 40 }).map((t) => encodeURIComponent(`${t}\u0000`)),
  fc.integer({ min: 300, max: 17_000 }).map((n) => 'x'.repeat(n)),
);

const isoOdd = fc.constantFrom(
  '9999-12-31T23:59:59Z',
  '0001-01-01T00:00:00Z',
  '1970-01-01T00:00:00Z',
  '2020-13-45T00:00:00Z',
  '2024-01-01T00:00:00+25:00',
  '2024-02-30T00:00:00Z',
);
const cursorArb = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }).map((v) => Buffer.from(JSON.stringify(v) ?? 'null').toString('base64url')),
  fc
    .record(
      {
        day: fc.oneof(fc.string(), fc.constantFrom('9999-12-31', '0000-00-00', 'x', '2024-01-01')),
        key: fc.oneof(
          fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 })),
          fc.jsonValue({ maxDepth: 1 }),
        ),
      },
      { requiredKeys: [] },
    )
    .map((c) => Buffer.from(JSON.stringify(c)).toString('base64url')),
  fc.string({ maxLength: 3000 }),
);
const queryValue = fc.oneof(
  fc.string({ maxLength: 100 }),
  fc.string({ unit: 'binary', maxLength: 50 }),
  fc.constantFrom(
    '-1',
    '0',
    '1e9',
    'NaN',
    'Infinity',
    '1.5',
    '',
    ' ',
    'defined,,bogus',
    'nope',
    'x'.repeat(5000),
  ),
  isoOdd,
  cursorArb,
);
const queryKey = fc.oneof(
  fc.constantFrom(
    'limit',
    'state',
    'since',
    'until',
    'cursor',
    'pilot',
    'workflow',
    'user',
    'site',
    'jobtype',
    'name',
    'type',
    'datatype',
    'prefix',
    'status',
    'host',
    '__proto__',
  ),
  fc.string({ maxLength: 20 }),
);
/** Well-typed but hostile queries (extreme windows, forged cursors): they reach the listings. */
const isoValid = fc.oneof(
  fc.constantFrom(
    '9999-12-31T23:59:59Z',
    '0001-01-01T00:00:00Z',
    '1970-01-01T00:00:00Z',
    '2000-01-01T00:00:00+14:00',
  ),
  fc
    .date({
      min: new Date('0001-01-01T00:00:00Z'),
      max: new Date('9999-12-31T23:59:59Z'),
      noInvalidDate: true,
    })
    .map((d) => d.toISOString()),
);
const wellTypedQuery = fc
  .record(
    {
      state: fc.constantFrom(
        'defined',
        'running',
        'finished',
        'defined,running',
        'waiting',
        'active',
        'killed',
      ),
      since: isoValid,
      until: isoValid,
      cursor: cursorArb,
      limit: fc.integer({ min: 1, max: 500 }).map(String),
      pilot: fc.uuid(),
      workflow: fc.string({ maxLength: 64 }),
      user: fc.string({ maxLength: 64 }),
      site: fc.constantFrom('fz', 'none'),
      jobtype: fc.constantFrom('fz', 'default'),
    },
    { requiredKeys: [] },
  )
  .map((o) => new URLSearchParams(o).toString());
/** A raw query string (without `?`). */
const queryArb = fc.oneof(
  fc.constant(''),
  wellTypedQuery,
  wellTypedQuery,
  fc
    .array(fc.tuple(queryKey, queryValue), { maxLength: 5 })
    .map((pairs) => new URLSearchParams(pairs).toString()),
  fc.constantFrom('%zz=1', 'a=%', '&&&', '=', '==', 'a[b]=1', 'limit=1&limit=2', '%00=%00', '?', 'state=,'),
);

/** Known field names with wrong-typed values: reaches validation past the first key. */
const FIELDS = [
  'role',
  'name',
  'expiresAt',
  'expiresInDays',
  'id',
  'key',
  'host',
  'site',
  'pid',
  'resources',
  'event',
  'jobId',
  'exitCode',
  'signal',
  'message',
  'wait',
  'mode',
  'all',
  'priority',
  'hold',
  'limit',
  'deadline',
  'sampling',
  'jobs',
  'inputFile',
  'count',
  'env',
  'payload',
  'jobtype',
  'timelimit',
  'state',
  'datatype',
  'path',
  'size',
  'dag',
  'graphml',
  'rule',
  'pattern',
];
const hostile = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(
    1e308,
    -1e308,
    2 ** 53 + 1,
    -0,
    '',
    'x'.repeat(70_000),
    '<script>alert(1)</script>',
    '{"bad-key":1}',
    { 'bad-key': 'x' },
    { __proto__: null, toString: 1 },
    [],
    [[]],
  ),
);
/** A JSON object that cannot be valid: it always carries an unknown key. */
const objectBody = fc
  .tuple(fc.dictionary(fc.constantFrom(...FIELDS), hostile, { maxKeys: 6 }), fc.string({ maxLength: 10 }))
  .map(([o, k]) => ({ ...o, [`zz${k}`]: 1 }));
/** JSON text that no route accepts (strict schemas: unknown keys, wrong shapes, bad syntax). */
const badJson: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '',
    '{',
    '{"a":',
    '[1,2',
    'nul',
    "{'a':1}",
    '\u0000',
    '{}{}',
    '[]',
    '""',
    'null',
    'true',
    '0',
    '1e999',
    '"\\ud800"',
    '{"__proto__":{"role":"admin"},"zz":1}',
    '{"constructor":{"prototype":{"x":1}},"zz":1}',
    `${'['.repeat(30_000)}${']'.repeat(30_000)}`,
    `{"zz":1,"name":"${'x'.repeat(65_537)}"}`,
    `{"zz":1,"name":"${'x'.repeat(1_048_577)}"}`,
  ),
  fc.string({ maxLength: 200 }),
  fc.jsonValue({ maxDepth: 3 }).map((v) => {
    // Objects get an unknown key; arrays a non-object element: invalid for every schema.
    if (Array.isArray(v)) return JSON.stringify([...v, '\u0000not-an-item']);
    if (v && typeof v === 'object') return JSON.stringify({ ...v, 'zz\u0000': 1 });
    return JSON.stringify(v);
  }),
  objectBody.map((o) => JSON.stringify(o)),
  fc.array(objectBody, { minLength: 1, maxLength: 4 }).map((a) => JSON.stringify(a)),
  fc
    .record({ jobs: fc.array(objectBody, { maxLength: 3 }), zz: fc.constant(1) })
    .map((o) => JSON.stringify(o)),
);
const contentType = fc.constantFrom(
  undefined,
  'application/json',
  'application/json; charset=utf-16',
  'text/plain',
  'application/octet-stream',
  'multipart/form-data; boundary=x',
  'application/x-www-form-urlencoded',
  'application/xml',
  '',
  'application/json, text/html',
);
const badBody = fc.oneof(
  fc.record({ text: badJson, contentType }),
  fc.record({
    text: fc.uint8Array({ maxLength: 256 }).map((b) => Buffer.from(b)),
    contentType: fc.constant('application/octet-stream'),
  }),
);

const FORBIDDEN_HEADERS = new Set([
  'content-length',
  'transfer-encoding',
  'host',
  'connection',
  'expect',
  'upgrade',
  'authorization',
  'cookie',
  'content-type',
  'keep-alive',
  'te',
  'trailer',
]);
const extraHeaders = fc.oneof(
  fc.constant({}),
  fc.dictionary(
    fc.stringMatching(/^[a-z][a-z0-9-]{0,30}$/).filter((h) => !FORBIDDEN_HEADERS.has(h)),
    headerText(),
    { maxKeys: 4 },
  ),
  fc.record(
    {
      'x-p3s-pilot-key': fc.oneof(headerText(200), fc.constant('k'.repeat(8000))),
      'content-encoding': fc.constantFrom('gzip', 'br', 'identity', 'x'),
      'x-forwarded-for': headerText(),
      origin: fc.constantFrom('http://evil.example', 'null'),
      'x-http-method-override': fc.constantFrom('DELETE', 'PUT', 'GET'),
    },
    { requiredKeys: [] },
  ),
);

interface Case {
  auth: Auth;
  params: (string | undefined)[];
  query: string;
  body?: { text: string | Buffer; contentType?: string };
  headers: Record<string, string>;
}

/**
 * Cases for one route. A case that authenticates (or a public route) on a method that can change
 * state always carries a malformed body *and* odd path parameters, so nothing can legitimately
 * change; GETs may be otherwise well-formed.
 */
function cases(r: ApiRoute): fc.Arbitrary<Case> {
  const n = pathParams(r.path).length;
  const mutating = r.method !== 'GET' && r.method !== 'HEAD';
  const anyParam = fc.option(oddParam, { nil: undefined });
  const loose = fc.record({
    auth: fc.oneof(bad(), cookieAuth()),
    params: fc.array(anyParam, { minLength: n, maxLength: n }),
    query: queryArb,
    body: mutating ? fc.option(badBody, { nil: undefined }) : fc.constant(undefined),
    headers: extraHeaders,
  });
  const guarded = fc.record({
    auth: fc.oneof(
      { weight: 4, arbitrary: validAuth() },
      { weight: 2, arbitrary: bad() },
      { weight: 1, arbitrary: cookieAuth() },
    ),
    params: fc.array(mutating ? oddParam : anyParam, { minLength: n, maxLength: n }),
    query: queryArb,
    body: mutating ? badBody : fc.constant(undefined),
    headers: extraHeaders,
  });
  if (r.key === 'POST /monitor/signin')
    return fc.oneof({ weight: 1, arbitrary: guarded }, { weight: 4, arbitrary: signinCase() });
  return r.access === 'public' || !mutating ? guarded : fc.oneof(loose, guarded);
}

/**
 * Where a page could try to send the browser after sign-in: `/`, what browsers drop or turn into
 * a slash (tabs, newlines, backslashes) or %-encode, then a host.
 */
const hostileNext = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .tuple(
        fc.constantFrom('/', '/', '/', '\t/', ' /'),
        fc.constantFrom('\t', '\n', '\r', '\t\t', '%09', '', ' ', '\u0000'),
        fc.constantFrom('/', '\\', '/\t', '%2F', '%5C'),
        fc.constantFrom('evil.example', '127.0.0.1:1', 'monitor/jobs'),
        fc.constantFrom('', '/x', '?a=1', '#f'),
      )
      .map((parts) => parts.join('')),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 1, arbitrary: fc.webUrl() },
);
/** A sign-in form post: a valid token or not, a hostile `next`, and this or another origin. */
const signinCase = (): fc.Arbitrary<Case> =>
  fc.record({
    auth: fc.constant<Auth>({ kind: 'bad', headers: {} }),
    params: fc.constant([]),
    query: fc.constant(''),
    body: fc
      .record({
        token: fc.oneof(
          { weight: 4, arbitrary: fc.constantFrom('viewer', 'admin', 'pilot').map((r) => tokens[r]!) },
          { weight: 1, arbitrary: fc.string({ maxLength: 60 }) },
        ),
        next: hostileNext,
      })
      .map((f) => ({
        text: new URLSearchParams(f).toString(),
        contentType: 'application/x-www-form-urlencoded',
      })),
    headers: fc.oneof(
      { weight: 2, arbitrary: fc.constant({}) },
      { weight: 2, arbitrary: fc.constant({ origin: 'SELF', 'sec-fetch-site': 'same-origin' }) },
      fc.record(
        {
          origin: fc.constantFrom('http://127.0.0.1:1', 'null', 'http://evil.example', 'SELF'),
          'sec-fetch-site': fc.constantFrom('same-origin', 'same-site', 'cross-site', 'none'),
        },
        { requiredKeys: [] },
      ),
    ),
  });

/** Whether `type` is what a JSON route takes (application/json, UTF-8). */
const isJsonType = (type: string | undefined) => {
  const [t, ...params] = (type ?? '').split(';').map((p) => p.trim().toLowerCase());
  const charset = params.find((p) => p.startsWith('charset='));
  return t === 'application/json' && (charset === undefined || charset === 'charset=utf-8');
};

/** What every answer must satisfy beyond "no 5xx", or the reason it does not. */
function violation(r: ApiRoute, c: Case, res: RawResponse): string | undefined {
  const mutating = r.method !== 'GET' && r.method !== 'HEAD';
  if (res.status >= 500) return `a ${res.status}`;
  if (mutating && (res.status < 400 || res.status >= 500) && r.key !== 'POST /monitor/signin')
    return `${res.status} for a request that could change state`;
  // The local runtime (like API Gateway) answers a path it cannot route or decode itself,
  // before any handler: those answers carry no `code`.
  let code: unknown;
  try {
    code = (JSON.parse(res.text) as { code?: unknown }).code;
  } catch {}
  // (431: node's own limit on the request line and headers, a 17 KB path parameter.)
  const fromRuntime = code === undefined && [400, 404, 414, 431].includes(res.status);
  if (fromRuntime) return undefined;
  if (c.auth.kind === 'cookie' && r.access !== 'public' && !r.cookie && res.status !== 401)
    return `${res.status} for the sign-in cookie (only the monitor's GET pages take it)`;
  const admitted = c.auth.kind === 'header' && c.auth.role && MAY_CALL[r.access].includes(c.auth.role);
  if (r.json && admitted && c.body && !isJsonType(c.body.contentType) && res.status !== 415)
    return `${res.status} for a ${c.body.contentType ?? 'typeless'} body (expected 415)`;
  if (r.key === 'POST /monitor/signin') {
    const origin = c.headers.origin === 'SELF' ? s.url : c.headers.origin;
    const site = c.headers['sec-fetch-site'];
    const foreign =
      (origin !== undefined && origin !== s.url) || (site !== undefined && site !== 'same-origin');
    // Refused: 403, or a 4xx the body earns first (too large) — never a cookie.
    if (foreign && (res.status < 400 || res.headers['set-cookie'] !== undefined))
      return `${res.status} for a sign-in from another origin`;
    const loc = res.headers.location;
    if (res.status >= 300 && res.status < 400) {
      if (
        typeof loc !== 'string' ||
        new URL(loc, s.url).origin !== s.url ||
        /[\t\n\r\\]/.test(loc) ||
        loc.startsWith('//')
      )
        return `sign-in sent the browser to ${JSON.stringify(loc)}`;
    } else if (res.status < 400) return `${res.status} from the sign-in form`;
  }
  if (res.status < 300 && String(res.headers['content-type']).startsWith('application/json')) {
    const leaked = internalKeys(JSON.parse(res.text));
    if (leaked.length) return `internal attributes in the answer: ${leaked.slice(0, 5).join(', ')}`;
  }
  return undefined;
}

function send(r: ApiRoute, c: Case) {
  let i = 0;
  // Odd params are raw URL text; absent ones get a valid-looking (non-existent) value.
  const path = r.path.replace(/\{([A-Za-z0-9_]+\+?)\}/g, (_m, name: string) => {
    const odd = c.params[i++];
    return odd ?? fillPath(`{${name}}`, { [name]: sampleParam(r.path, name) });
  });
  const headers: Record<string, string> = { ...c.headers, ...c.auth.headers };
  if (headers.origin === 'SELF') headers.origin = s.url;
  if (c.body?.contentType !== undefined) headers['content-type'] = c.body.contentType;
  return rawRequest(s.url, r.method, c.query ? `${path}?${c.query}` : path, { headers, body: c.body?.text });
}

describe('fuzzing every route', () => {
  test('malformed requests get a 4xx (never a 5xx), change no table, and the server stays healthy', async () => {
    const before = await tableSnapshot(s);
    let count = 0;
    const failures: string[] = [];
    const started = Date.now();
    for (const [i, r] of routes.entries()) {
      let runs = 0;
      const property = fc.asyncProperty(cases(r), async (c) => {
        const res = await send(r, c);
        count++;
        runs++;
        const wrong = violation(r, c, res);
        assert.ok(!wrong, `${r.key}: ${wrong}: ${res.text.slice(0, 300)}`);
      });
      // What is left of the whole run's budget: a slow route may use what fast ones left.
      const left = BUDGET_MS - (Date.now() - started);
      try {
        await fc.assert(property, {
          seed: SEED + i,
          numRuns: RUNS,
          endOnFailure: true,
          // A route the time budget cuts short fails: fewer cases than asked is not a pass.
          plugins: [fc.interruptAfterTimeLimit(Math.max(left, 1), { failOnInterrupt: true })],
        });
        assert.equal(runs, RUNS, `${r.key} ran ${runs} of ${RUNS} cases`);
      } catch (err) {
        // Long runs of one character (huge headers, bodies) shortened, so the report stays readable.
        const e = err as Error & { cause?: Error };
        const msg = `${e.cause?.message ?? ''}\n${e.message.split('\n').slice(0, 3).join('\n')}`.replace(
          /(.)\1{40,}/g,
          (m, c) => `${c}…×${m.length}`,
        );
        const cut = /interrupted/i.test(e.message)
          ? ` [ran ${runs}/${RUNS} cases before P3S_FUZZ_BUDGET_S (${BUDGET_MS / 1000} s) ran out]`
          : '';
        failures.push(`${r.key}:${cut} ${msg.slice(0, 2000)}`);
      }
    }
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    process.stdout.write(`# fuzz: ${count} cases over ${routes.length} routes in ${secs} s (seed ${SEED})\n`);
    assert.deepEqual(failures, [], `fuzz failures (seed ${SEED})`);
    assert.equal((await s.call('GET', '/healthz', { token: null })).status, 200);
    const jobs = await s.call('GET', '/jobs');
    assert.equal(jobs.status, 200);
    assert.equal(jobs.body.jobs.length, 3, 'the seeded jobs are still listed');
    assert.deepEqual(await tableSnapshot(s), before, 'no table changed');
  });
});
