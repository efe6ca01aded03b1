import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { rawRequest, tableSnapshot } from '../helpers/routes.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

/**
 * The monitor's session against a page of another origin on the same host (a sibling app, the
 * local S3 one port up — same *site*, so SameSite=Strict does not stop its requests): the
 * sign-in cookie works only on the monitor's GET pages and live.json, state-changing routes want
 * the Authorization header and JSON, sign-in and sign-out refuse other origins, and `next` after
 * sign-in stays a path of this site as a browser reads it. (The browser's own view of the
 * redirect: test/e2e/monitor-session.test.ts.)
 */
let s: TestStack;
let viewer: string;
let origin: string;
const SIBLING = 'http://127.0.0.1:1';

before(async () => {
  s = await startTestStack();
  origin = s.url;
  viewer = (await s.call('POST', '/tokens', { body: { role: 'viewer' } })).body.token;
});
after(async () => {
  await s.close();
});

const cookie = (token: string) => `p3s_token=${encodeURIComponent(token)}`;

function signin(form: Record<string, string>, headers: Record<string, string> = {}) {
  return rawRequest(s.url, 'POST', '/monitor/signin', {
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString(),
  });
}

describe('sign-in target (`next`)', () => {
  // What the server must answer in Location, for what a page could put in `next`. Browsers drop
  // tabs and newlines and read `\` as `/` (WHATWG URL), so each "evil" line is another host.
  const cases: [string, string][] = [
    ['/monitor/jobs?state=running', '/monitor/jobs?state=running'],
    ['/monitor/jo\tbs', '/monitor/jobs'],
    ['\t /monitor/data', '/monitor/data'],
    ['/\t/evil.example', '/'],
    ['/\n/evil.example', '/'],
    ['/\r\n/evil.example/', '/'],
    ['\t//evil.example', '/'],
    [' //evil.example', '/'],
    ['/\\evil.example', '/'],
    ['/\t\\evil.example', '/'],
    ['\\/evil.example', '/'],
    ['/%2F/evil.example', '/'],
    ['/%5Cevil.example', '/'],
    ['/%09/evil.example', '/'],
    ['/%0a/evil.example', '/'],
    ['/\u0000/evil.example', '/'],
    ['/.//evil.example', '/'],
    ['/x/..//evil.example', '/'],
    ['//evil.example', '/'],
    ['https://evil.example/', '/'],
    ['http:evil.example', '/'],
    ['javascript:alert(1)', '/'],
    ['/monitor/signin?next=/', '/'],
    ['/monitor/signout', '/'],
  ];

  test('a POST answers Location: a path of this site, as the browser parses it', async () => {
    const wrong: string[] = [];
    for (const [next, want] of cases) {
      const r = await signin({ token: viewer, next });
      const got = r.headers.location;
      if (r.status !== 303 || got !== want) wrong.push(`${JSON.stringify(next)} → ${r.status} ${got}`);
      // Whatever it is, the browser's parser must resolve it to this origin.
      if (typeof got === 'string' && new URL(got, origin).origin !== origin)
        wrong.push(`${JSON.stringify(next)} → leaves the site: ${got}`);
    }
    assert.deepEqual(wrong, []);
  });

  test('the sign-in form carries only the normalised target', async () => {
    for (const [next, want] of cases) {
      const r = await rawRequest(s.url, 'GET', `/monitor/signin?next=${encodeURIComponent(next)}`);
      assert.equal(r.status, 200);
      const hidden = /name="next" value="([^"]*)"/.exec(r.text)?.[1];
      assert.equal(hidden?.replace(/&amp;/g, '&'), want, JSON.stringify(next));
    }
  });
});

describe('sign-in and sign-out from another origin', () => {
  test('a sign-in posted by another origin is a 403 and sets no cookie', async () => {
    const refused: Record<string, string>[] = [
      { origin: SIBLING },
      { origin: 'null' },
      { origin: `${origin}.evil.example` },
      { 'sec-fetch-site': 'same-site' },
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site', origin },
    ];
    for (const headers of refused) {
      const r = await signin({ token: viewer, next: '/' }, headers);
      assert.equal(r.status, 403, JSON.stringify(headers));
      assert.equal(JSON.parse(r.text).code, 'forbidden');
      assert.match(JSON.parse(r.text).message, /^cross-site sign-in refused: (Origin|Sec-Fetch-Site)/);
      assert.equal(r.headers['set-cookie'], undefined);
    }
  });

  test("this site's own form signs in (a browser's headers, or a client's without any)", async () => {
    const own: Record<string, string>[] = [{ origin, 'sec-fetch-site': 'same-origin' }, { origin }, {}];
    for (const headers of own) {
      const r = await signin({ token: viewer, next: '/monitor/jobs' }, headers);
      assert.equal(r.status, 303, JSON.stringify(headers));
      assert.match(String(r.headers['set-cookie']), /^p3s_token=/);
    }
    const https = await signin(
      { token: viewer, next: '/' },
      { origin: `https://${new URL(origin).host}`, 'x-forwarded-proto': 'https' },
    );
    assert.equal(https.status, 303, 'behind https the origin is https://<host>');
  });

  test('a sign-out posted by another origin is a 403 and clears nothing', async () => {
    const post = (headers: Record<string, string>) =>
      rawRequest(s.url, 'POST', '/monitor/signout', {
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookie(viewer), ...headers },
        body: 'signout=1',
      });
    const away = await post({ origin: SIBLING, 'sec-fetch-site': 'same-site' });
    assert.equal(away.status, 403);
    assert.match(JSON.parse(away.text).message, /^cross-site sign-out refused/);
    assert.equal(away.headers['set-cookie'], undefined);
    const own = await post({ origin, 'sec-fetch-site': 'same-origin' });
    assert.equal(own.status, 303);
    assert.match(String(own.headers['set-cookie']), /^p3s_token=;.*Max-Age=0/);
  });
});

describe('the sign-in cookie on the API', () => {
  test('a job submitted with only the cookie (a form of another origin) is a 401 and creates nothing', async () => {
    const before = await tableSnapshot(s);
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/json']) {
      const r = await rawRequest(s.url, 'POST', '/jobs', {
        headers: { cookie: cookie(s.adminToken), 'content-type': type, origin: SIBLING },
        body: type === 'application/json' ? '[{"payload":"/bin/id"}]' : '[{"payload":"/bin/id"}]=',
      });
      assert.equal(r.status, 401, type);
      assert.equal(JSON.parse(r.text).code, 'unauthorized');
      assert.match(JSON.parse(r.text).message, /Authorization header/);
    }
    assert.deepEqual(await tableSnapshot(s), before, 'no table changed');
  });

  test('with the header, a JSON route refuses a form or text body: 415 naming the type, nothing created', async () => {
    const before = await tableSnapshot(s);
    const r = await rawRequest(s.url, 'POST', '/jobs', {
      headers: { authorization: `Bearer ${s.adminToken}`, 'content-type': 'text/plain' },
      body: '[{"payload":"/bin/id"}]',
    });
    assert.equal(r.status, 415);
    assert.deepEqual(JSON.parse(r.text), {
      code: 'unsupported_media_type',
      message: 'Content-Type must be application/json (got "text/plain")',
    });
    const none = await rawRequest(s.url, 'POST', '/jobs', {
      headers: { authorization: `Bearer ${s.adminToken}` },
      body: '[{"payload":"/bin/id"}]',
    });
    assert.equal(none.status, 415);
    assert.match(JSON.parse(none.text).message, /got none/);
    assert.deepEqual(await tableSnapshot(s), before, 'no table changed');
  });

  test('reads of the API want the header too; the monitor pages and live.json take the cookie', async () => {
    const get = (path: string) => rawRequest(s.url, 'GET', path, { headers: { cookie: cookie(viewer) } });
    for (const path of ['/jobs', '/summary', '/pilots', '/data'])
      assert.equal((await get(path)).status, 401, path);
    for (const path of ['/monitor/live.json', '/monitor/jobs', '/'])
      assert.equal((await get(path)).status, 200, path);
  });
});
