import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SimPilot } from '../helpers/pilot-sim.ts';
import { apiRoutes, fillPath, rawRequest, tableSnapshot } from '../helpers/routes.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

/**
 * The monitor as an attacker would try it: user-controlled text (job names, env values, users,
 * pilot hosts, file names, query strings) must come back escaped; GET changes nothing; the
 * sign-in cookie is HttpOnly and SameSite. (Browser-level tests: test/e2e/monitor*.)
 */
const XSS = '<script>alert(1)</script>';
const ATTR = '"><img src=x onerror=alert(1)>';
const RAW = ['<script>alert(1)', '<img src=x onerror'];

let s: TestStack;
let jobId: string;
let pilot: SimPilot;
let workflowId: string;
before(async () => {
  s = await startTestStack();
  const sub = await s.call('POST', '/jobs', {
    body: [{ name: XSS, jobtype: 'default', user: XSS, payload: `/bin/echo ${XSS}`, env: { XSS, ATTR } }],
  });
  assert.equal(sub.status, 201, JSON.stringify(sub.body));
  jobId = sub.body[0].id;
  pilot = new SimPilot(s, { host: XSS });
  assert.equal((await pilot.register()).status, 201);
  const poll = await pilot.poll();
  assert.equal(poll.body.job?.id, jobId);
  await pilot.report({ event: 'jobstart', jobId });
  await pilot.report({ event: 'jobstop', jobId, exitCode: 1, stdoutTail: XSS, message: ATTR });
  const dag = await s.call('POST', '/dags', {
    body: {
      dag: {
        name: 'xss-dag',
        description: XSS,
        vertices: [
          { name: 'first', jobtype: 'default', payload: `/bin/echo ${XSS}`, env: { XSS } },
          { name: 'second', jobtype: 'default', payload: ATTR },
        ],
      },
    },
  });
  assert.equal(dag.status, 201, JSON.stringify(dag.body));
  const wf = await s.call('POST', '/workflows', { body: { dag: 'xss-dag', name: XSS } });
  assert.equal(wf.status, 201, JSON.stringify(wf.body));
  workflowId = wf.body.id ?? wf.body.workflow?.id;
  const data = await s.call('POST', '/data', { body: [{ location: `/data/x${ATTR}.root`, comment: XSS }] });
  assert.equal(data.status, 200, JSON.stringify(data.body));
});
after(async () => {
  await s.close();
});

/** A monitor page as a signed-in browser gets it. */
function page(path: string) {
  return rawRequest(s.url, 'GET', path, {
    headers: { accept: 'text/html', cookie: `p3s_token=${encodeURIComponent(s.adminToken)}` },
  });
}

function assertEscaped(path: string, text: string) {
  for (const raw of RAW) assert.ok(!text.includes(raw), `${path} shows ${raw} unescaped`);
}

describe('monitor security', () => {
  test('job names, users, env values, output and pilot hosts are escaped on every page', async () => {
    const paths = [
      '/',
      '/monitor/jobs',
      `/monitor/jobs/${jobId}`,
      '/monitor/pilots',
      `/monitor/pilots/${pilot.id}`,
      '/monitor/data',
      '/monitor/jobtypes',
      '/monitor/workflows',
      `/monitor/workflows/${workflowId}`,
    ];
    for (const path of paths) {
      const r = await page(path);
      assert.equal(r.status, 200, `${path}: ${r.text.slice(0, 200)}`);
      assert.match(String(r.headers['content-type']), /^text\/html/);
      assertEscaped(path, r.text);
    }
    // Shown, escaped — so the checks above looked at pages that do carry the text.
    const job = (await page(`/monitor/jobs/${jobId}`)).text;
    assert.ok(job.includes('&lt;script&gt;alert(1)&lt;/script&gt;'), 'the job page shows the name escaped');
    assert.ok(job.includes('&quot;&gt;&lt;img src=x onerror=alert(1)&gt;'), 'the env value is shown escaped');
    const p = (await page(`/monitor/pilots/${pilot.id}`)).text;
    assert.ok(p.includes('&lt;script&gt;alert(1)&lt;/script&gt;'), 'the pilot page shows the host escaped');
    const w = (await page(`/monitor/workflows/${workflowId}`)).text;
    assert.ok(
      w.includes('&lt;script&gt;alert(1)&lt;/script&gt;'),
      'the workflow page shows its name escaped',
    );
    const d = (await page('/monitor/data')).text;
    assert.ok(
      d.includes('x&quot;&gt;&lt;img src=x onerror=alert(1)&gt;.root'),
      'the data page shows the file escaped',
    );
  });

  test('query strings, paths and sign-in targets are not reflected unescaped', async () => {
    const q = encodeURIComponent(XSS);
    for (const path of [
      `/monitor/jobs?user=${q}`,
      `/monitor/jobs?${q}=1`,
      `/monitor/jobs?state=${q}`,
      `/monitor/jobs/${q}`,
      `/monitor/pilots/${q}`,
      `/monitor/data?name=${q}`,
      `/monitor/signin?next=${q}`,
      `/monitor/signin?next=${encodeURIComponent(`/"${ATTR}`)}`,
    ]) {
      const r = await page(path);
      assert.ok(r.status < 500, `${path}: ${r.status}`);
      assertEscaped(path, r.text);
    }
  });

  test('DAG vertex names cannot carry markup at all: a 400 naming the field', async () => {
    const r = await s.call('POST', '/dags', {
      body: { dag: { name: 'bad', vertices: [{ name: XSS, jobtype: 'default' }] } },
    });
    assert.equal(r.status, 400);
    assert.match(r.body.message, /name: must be 1–64 characters/);
  });

  test('pages carry a script-blocking content security policy', async () => {
    const r = await page('/monitor/jobs');
    assert.match(String(r.headers['content-security-policy']), /script-src 'self'/);
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
  });

  test('signing in sets an HttpOnly, SameSite cookie (Secure over https) and goes only to a local page', async () => {
    const viewer = (await s.call('POST', '/tokens', { body: { role: 'viewer' } })).body.token as string;
    const form = (next: string, token = viewer) => new URLSearchParams({ token, next }).toString();
    const post = (body: string, headers: Record<string, string> = {}) =>
      rawRequest(s.url, 'POST', '/monitor/signin', {
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body,
      });
    const r = await post(form('/monitor/jobs'));
    assert.equal(r.status, 303);
    assert.equal(r.headers.location, '/monitor/jobs');
    const cookie = String(r.headers['set-cookie']);
    assert.match(cookie, /^p3s_token=/);
    assert.match(cookie, /;\s*HttpOnly/i);
    assert.match(cookie, /;\s*SameSite=(Strict|Lax)/i);
    assert.match(cookie, /;\s*Path=\//);
    assert.doesNotMatch(cookie, /Secure/, 'no Secure flag over plain http (the local stack)');
    const https = await post(form('/'), { 'x-forwarded-proto': 'https' });
    assert.match(String(https.headers['set-cookie']), /;\s*Secure/);
    for (const next of ['//evil.example/x', 'https://evil.example/', '/\\evil.example']) {
      const away = await post(form(next));
      assert.equal(away.headers.location, '/', `next=${next}`);
    }
    const bad = await post(form('/', 'p3s_AAAAAAAAAAAA_' + 'A'.repeat(43)));
    assert.equal(bad.status, 401);
    assert.equal(bad.headers['set-cookie'], undefined, 'a bad token gets no cookie');
    const pilotToken = await post(form('/', s.pilotToken));
    assert.equal(pilotToken.status, 401, 'a pilot token cannot sign in to the monitor');
    assert.equal(pilotToken.headers['set-cookie'], undefined);
  });

  test('GET on every monitor page and read API changes no table', async () => {
    const gets = (await apiRoutes()).filter((r) => r.method === 'GET');
    const real: Record<string, string> = {
      '/monitor/workflows/{id}': workflowId,
      '/workflows/{id}': workflowId,
      '/monitor/jobs/{id}': jobId,
      '/monitor/pilots/{id}': pilot.id,
      '/jobs/{id}': jobId,
      '/pilots/{id}': pilot.id,
    };
    const before = await tableSnapshot(s);
    for (const r of gets) {
      const path = real[r.path] ? r.path.replace('{id}', real[r.path]!) : fillPath(r.path);
      const res = await rawRequest(s.url, 'GET', path, {
        headers: { authorization: `Bearer ${s.adminToken}`, accept: 'text/html' },
      });
      assert.ok(res.status < 500, `${r.key}: ${res.status}`);
    }
    assert.deepEqual(await tableSnapshot(s), before);
  });
});
