/**
 * The web monitor in real headless Chromium (Debian's `chromium`, driven by playwright-core; no
 * browser is ever downloaded) against the local stack started in this process. Jobs are submitted
 * over HTTP and run by simulated pilots. Screenshots go to test-output/screenshots/monitor/.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { repoRoot } from '../../localstack/runtime/serverless-config.ts';
import { countDynamo, type DynamoCounter } from '../helpers/dynamo-counter.ts';
import { SimPilot } from '../helpers/pilot-sim.ts';
import { startTestStack, type TestStack, waitFor } from '../helpers/stack.ts';

const CHROMIUM = process.env.P3S_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = join(repoRoot, 'test-output', 'screenshots', 'monitor');
const XSS = '<script>alert(1)</script>';

let s: TestStack;
let browser: Browser;
let ctx: BrowserContext;
let counter: DynamoCounter;
let viewerToken: string;
/** Dialogs, page errors and console errors seen in any page: all must stay empty. */
const incidents: string[] = [];

async function newPage(c: BrowserContext = ctx): Promise<Page> {
  const page = await c.newPage();
  page.on('dialog', (d) => {
    incidents.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
  page.on('pageerror', (e) => incidents.push(`page error: ${e.message}`));
  // CSP violations are reported as console errors: the pages must not need anything the policy forbids.
  page.on('console', (m) => {
    // (A refused sign-in answers 401, which Chromium logs too: that one is expected.)
    if (m.type() === 'error' && !/status of 401/.test(m.text())) incidents.push(`console: ${m.text()}`);
  });
  return page;
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** Submits one job (held unless it is to run, so no pilot of another test can take it). */
async function submit(job: Record<string, unknown>): Promise<any> {
  const r = await s.call('POST', '/jobs', { body: [{ payload: '/bin/true', ...job }] });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body[0];
}

/** Submits a job and runs it on a new simulated pilot: jobstart, then jobstop with the given outcome. */
async function runJob(job: Record<string, unknown>, stop: Record<string, unknown> = { exitCode: 0 }) {
  const j = await submit(job);
  const p = new SimPilot(s, { host: 'wn-e2e' });
  assert.equal((await p.register()).status, 201);
  const poll = await p.poll(5);
  assert.equal(poll.body.job?.id, j.id, 'the new pilot got the job');
  assert.equal((await p.report({ event: 'jobstart', jobId: j.id, pid: 4242 })).status, 200);
  assert.equal((await p.report({ event: 'jobstop', jobId: j.id, ...stop })).status, 200);
  return { job: j, pilot: p };
}

/** Rows of the first table in <main> as text, by column label. */
async function tableRows(page: Page): Promise<Record<string, string>[]> {
  // (Runs in the page; the test's tsconfig has no DOM types, hence `any`.)
  return page.$$eval('main table', (tables: any[]) => {
    const t = tables[0];
    const head: string[] = [...t.tHead.rows[0].cells].map((c: any) =>
      (c.textContent ?? '').replace(/[▲▼]/g, '').trim(),
    );
    return [...t.tBodies[0].rows]
      .filter((r: any) => r.cells.length === head.length)
      .map((r: any) =>
        Object.fromEntries([...r.cells].map((c: any, i) => [head[i]!, (c.textContent ?? '').trim()])),
      );
  });
}

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium (CI's .ci/run does)`);
  mkdirSync(SHOTS, { recursive: true });
  s = await startTestStack();
  counter = countDynamo(s.tablePrefix);
  viewerToken = (await s.call('POST', '/tokens', { body: { role: 'viewer', name: 'e2e shifter' } })).body
    .token;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
  // A zone away from UTC, so "local time" is visibly not the server's UTC.
  ctx = await browser.newContext({ viewport: { width: 1366, height: 900 }, timezoneId: 'Asia/Kolkata' });
});

after(async () => {
  await browser?.close();
  await s?.close();
});

describe('the web monitor in a browser', () => {
  test('a browser without a token is sent to the sign-in page, and the sign-in link signs it in', async () => {
    const anon = await browser.newContext();
    const page = await newPage(anon);
    await page.goto(`${s.url}/monitor/jobs?state=running`);
    assert.equal(new URL(page.url()).pathname, '/monitor/signin');
    assert.equal(new URL(page.url()).searchParams.get('next'), '/monitor/jobs?state=running');
    await shot(page, '00-signin');
    await anon.close();

    // The link `npm start` prints: the token rides in the fragment, which the page script posts.
    const page2 = await newPage();
    await page2.goto(`${s.url}/monitor/signin#token=${encodeURIComponent(viewerToken)}`);
    await page2.waitForURL(`${s.url}/`);
    assert.equal(await page2.textContent('h1'), 'Dashboard');
    assert.match((await page2.textContent('header.top .who')) ?? '', /e2e shifter \(viewer\)/);
    const [cookie] = (await ctx.cookies()).filter((c) => c.name === 'p3s_token');
    assert.ok(cookie, 'the sign-in cookie is set');
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Strict');
    assert.equal(cookie.secure, false, 'plain http on the local stack');
    assert.equal(
      await page2.evaluate(() => (globalThis as any).document.cookie),
      '',
      'the token is not readable by script',
    );
    await page2.close();
  });

  test('a wrong token is refused on the sign-in page', async () => {
    const anon = await browser.newContext();
    const page = await newPage(anon);
    await page.goto(`${s.url}/monitor/signin`);
    await page.fill('#token', 'p3s_nonsense');
    await page.click('button[type=submit]');
    await page.waitForSelector('.error-box');
    assert.match((await page.textContent('.error-box')) ?? '', /not valid/);
    assert.deepEqual(await anon.cookies(), []);
    await anon.close();
  });

  test('the dashboard reflects a job submitted and run during the test, without reloading', async () => {
    const page = await newPage();
    await page.goto(`${s.url}/?refresh=1`);
    await page.evaluate(() => {
      (globalThis as any).__sameDocument = true;
    });
    const finished = () => page.textContent('[data-counts="jobs"] [data-state="finished"]').then(Number);
    const before = await finished();
    await shot(page, '01-dashboard-before');

    const { pilot } = await runJob(
      { name: 'dash-job', jobtype: 'e2e-dash' },
      { exitCode: 0, stdoutTail: 'ok\n' },
    );

    await page.waitForFunction(
      (n) =>
        Number(
          (globalThis as any).document.querySelector('[data-counts="jobs"] [data-state="finished"]')
            ?.textContent,
        ) === n,
      before + 1,
      { timeout: 15_000 },
    );
    await page.waitForSelector('[data-part="jobtypes"] tr[data-jobtype="e2e-dash"]', { timeout: 15_000 });
    await page.waitForSelector(`[data-part="pilots"] tr[data-pilot="${pilot.id}"]`, { timeout: 15_000 });
    assert.equal(
      await page.evaluate(() => (globalThis as any).__sameDocument),
      true,
      'updated in place, not reloaded',
    );
    // Latency and throughput aggregates saw the job start.
    const started5 = await page.textContent('[data-part="latency"] tr[data-window="5"] td');
    assert.ok(Number(started5) >= 1, `jobs started in the last 5 min: ${started5}`);
    assert.ok(
      (await page.$$('[data-part="throughput"] svg.chart rect.bar')).length >= 1,
      'a bar for the job',
    );
    // Heartbeat ages tick as "N s ago"; times are local (not the server's UTC text).
    const age = await page.textContent(`[data-part="pilots"] tr[data-pilot="${pilot.id}"] time.ago`);
    assert.match(age ?? '', /^\d+ s ago$/);
    const status = await page.textContent('#live-status');
    assert.match(status ?? '', /Updated \d+ s ago, every 1 s/);
    assert.equal(await page.getAttribute('main', 'data-live'), '/monitor/live.json');
    await shot(page, '02-dashboard-after-job');
    await page.setViewportSize({ width: 1920, height: 1080 });
    await shot(page, '03-dashboard-control-room-1920');
    await page.close();
  });

  test('filters change the job table and the URL, and the URL alone reproduces the view', async () => {
    for (const [name, jobtype, user] of [
      ['filter-a1', 'e2e-fa', 'alice'],
      ['filter-a2', 'e2e-fa', 'bob'],
      ['filter-b1', 'e2e-fb', 'alice'],
    ] as const)
      await submit({ name, jobtype, user, state: 'held' });
    const page = await newPage();
    await page.goto(`${s.url}/monitor/jobs`);
    const all = (await tableRows(page)).map((r) => r.name);
    for (const n of ['filter-a1', 'filter-a2', 'filter-b1']) assert.ok(all.includes(n), `${n} listed`);

    await page.fill('input[name="jobtype"]', 'e2e-fa');
    await page.fill('input[name="user"]', 'alice');
    await Promise.all([page.waitForURL(/jobtype=e2e-fa/), page.click('form.filters button[type=submit]')]);
    const url1 = new URL(page.url());
    assert.equal(url1.searchParams.get('jobtype'), 'e2e-fa');
    assert.equal(url1.searchParams.get('user'), 'alice');
    assert.equal(url1.searchParams.has('site'), false, 'empty filters are left out of the URL');
    assert.deepEqual(
      (await tableRows(page)).map((r) => r.name),
      ['filter-a1'],
    );

    // A state filter goes through the byState index; sorting is a link that keeps the filters.
    await page.fill('input[name="user"]', '');
    await page.check('input[name="state"][value="defined"]');
    await Promise.all([page.waitForURL(/state=defined/), page.click('form.filters button[type=submit]')]);
    await Promise.all([page.waitForURL(/sort=name/), page.click('main table thead a:text-is("name")')]);
    await Promise.all([page.waitForURL(/sort=-name/), page.click('main table thead a:has-text("name")')]);
    const url2 = new URL(page.url());
    assert.equal(url2.searchParams.get('state'), 'defined');
    assert.equal(url2.searchParams.get('jobtype'), 'e2e-fa');
    assert.equal(url2.searchParams.get('sort'), '-name');
    assert.equal(await page.getAttribute('main table thead th[aria-sort]', 'aria-sort'), 'descending');
    const rows = await tableRows(page);
    assert.deepEqual(
      rows.map((r) => r.name),
      ['filter-a2', 'filter-a1'],
    );
    await shot(page, '04-jobs-filtered');

    // The same URL, opened afresh, shows the same view.
    const again = await newPage();
    await again.goto(page.url());
    assert.deepEqual(
      (await tableRows(again)).map((r) => r.name),
      ['filter-a2', 'filter-a1'],
    );
    assert.equal(await again.isChecked('input[name="state"][value="defined"]'), true);
    await again.close();
    await page.close();
  });

  test("a job's detail page shows its stdout tail, fields, env, timeline and pilot", async () => {
    const tail = 'event 1 processed\nDQM plots written to /data/dqm/run42 <ok>\n';
    const { job, pilot } = await runJob(
      { name: 'detail-job', jobtype: 'e2e-detail', env: { RUN: '42' } },
      { exitCode: 3, stdoutTail: tail, stderrTail: 'warning: low statistics\n' },
    );
    const page = await newPage();
    await page.goto(`${s.url}/monitor/jobs/${job.id}`);
    const pres = await page.$$eval('pre.tail', (els) => els.map((e) => e.textContent));
    assert.equal(pres[0], tail);
    assert.equal(pres[1], 'warning: low statistics\n');
    assert.match((await page.textContent('h1')) ?? '', /detail-job\s+failed/);
    assert.match((await page.textContent('table.env')) ?? '', /RUN\s*42/);
    const steps = await page.$$eval('ol.timeline li', (els) => els.map((e) => e.getAttribute('data-step')));
    assert.deepEqual(steps.slice(-2), ['started (pilot reported jobstart)', 'ended: failed']);
    assert.ok(await page.$(`a[href="/monitor/pilots/${pilot.id}"]`), 'links its pilot');
    const created = await page.textContent('ol.timeline li time');
    assert.ok(created && !created.includes('UTC'), `shown in local time: ${created}`);
    await shot(page, '05-job-detail');

    // The pilot's page lists the job.
    await page.click(`a[href="/monitor/pilots/${pilot.id}"]`);
    await page.waitForURL(`**/monitor/pilots/${pilot.id}`);
    assert.ok(await page.$(`main table a[href="/monitor/jobs/${job.id}"]`), 'the pilot lists its job');
    await shot(page, '06-pilot-detail');
    await page.close();
  });

  test('a workflow page draws its DAG, vertices coloured by the state of their jobs', async () => {
    const dt = await s.call('POST', '/datatypes', { body: { name: 'E2E', ext: '.e2e' } });
    assert.ok(dt.status < 300, JSON.stringify(dt.body));
    const v = (name: string) => ({ name, jobtype: 'e2e-wf', payload: '/bin/true' });
    const e = (source: string, target: string) => ({
      source,
      target,
      datatype: 'E2E',
      datatag: `${source}_TO_${target}`.toUpperCase().replace(/-/g, '_'),
    });
    const dag = {
      name: 'e2e-dag',
      vertices: [v('reco'), v('dqm-a'), v('dqm-b'), v('summary')],
      edges: [e('reco', 'dqm-a'), e('reco', 'dqm-b'), e('dqm-a', 'summary'), e('dqm-b', 'summary')],
    };
    const put = await s.call('POST', '/dags', { body: { dag } });
    assert.ok(put.status === 200 || put.status === 201, JSON.stringify(put.body));
    const wf = await s.call('POST', '/workflows', { body: { dag: 'e2e-dag', state: 'defined' } });
    assert.equal(wf.status, 201, JSON.stringify(wf.body));
    const id: string = wf.body.id;
    // Run the root: its children are released (defined), the sink stays a template.
    const p = new SimPilot(s, { host: 'wn-wf' });
    await p.register();
    const poll = await p.poll(5);
    assert.equal(poll.body.job?.vertex ?? poll.body.job?.name, 'reco');
    await p.report({ event: 'jobstart', jobId: poll.body.job.id });
    await p.report({ event: 'jobstop', jobId: poll.body.job.id, exitCode: 0 });
    const want = { reco: 'finished', 'dqm-a': 'defined', 'dqm-b': 'defined', summary: 'template' };
    await waitFor(
      async () => {
        const w = (await s.call('GET', `/workflows/${id}`)).body;
        const got = Object.fromEntries((w.jobs ?? []).map((j: any) => [j.vertex, j.state]));
        return Object.entries(want).every(([vertex, state]) => got[vertex] === state);
      },
      { what: 'the workflow advanced past its root', timeoutMs: 15_000 },
    );

    const page = await newPage();
    await page.goto(`${s.url}/monitor/workflows?state=running`);
    await page.click(`a[href="/monitor/workflows/${id}"]`);
    await page.waitForURL(`**/monitor/workflows/${id}`);
    const drawn = await page.$$eval('svg.dag g.vertex', (gs: any[]) =>
      gs.map((g) => ({
        name: g.getAttribute('data-name') as string,
        state: g.getAttribute('data-state') as string,
        // What the browser paints (attribute and style sheet together).
        fill: (globalThis as any).getComputedStyle(g.querySelector('rect')).fill as string,
        width: g.querySelector('rect').getBBox().width as number,
      })),
    );
    assert.deepEqual(Object.fromEntries(drawn.map((d) => [d.name, d.state])), want);
    // The state colours, written here: finished green, defined blue, template grey.
    const fills: Record<string, string> = {
      finished: 'rgb(187, 247, 208)',
      defined: 'rgb(191, 219, 254)',
      template: 'rgb(229, 231, 235)',
    };
    for (const d of drawn) {
      assert.equal(d.fill, fills[d.state], `${d.name} is coloured as ${d.state}`);
      assert.ok(d.width > 0, `${d.name} is drawn`);
    }
    assert.equal((await page.$$('svg.dag g.edge')).length, 4);
    // Layered top to bottom: reco, then dqm-a and dqm-b side by side, then summary.
    const y = (n: string) =>
      page.$eval(`svg.dag g.vertex[data-name="${n}"] rect`, (r: any) => Number(r.getAttribute('y')));
    assert.ok((await y('reco')) < (await y('dqm-a')));
    assert.equal(await y('dqm-a'), await y('dqm-b'));
    assert.ok((await y('dqm-b')) < (await y('summary')));
    await shot(page, '07-workflow-dag');
    await page.close();
  });

  test('a job named <script>alert(1)</script> is shown as text, never run', async () => {
    const job = await submit({
      name: XSS,
      jobtype: 'e2e-xss',
      env: { NOTE: '"><script>alert(2)</script>' },
      state: 'held',
    });
    const page = await newPage();
    await page.goto(`${s.url}/monitor/jobs?jobtype=e2e-xss`);
    assert.deepEqual(
      (await tableRows(page)).map((r) => r.name),
      [XSS],
    );
    await page.click(`a[href="/monitor/jobs/${job.id}"]`);
    await page.waitForURL(`**/monitor/jobs/${job.id}`);
    assert.equal(await page.textContent('h1 .job-name'), XSS);
    // The visible text is the hostile input itself: escaped once, not dropped, not double-escaped.
    const env = await page.$$eval('table.env tbody tr', (rows: any[]) =>
      rows.map((r) => [r.querySelector('th')?.textContent, r.querySelector('td')?.textContent]),
    );
    assert.deepEqual(Object.fromEntries(env), { NOTE: '"><script>alert(2)</script>' });
    const scripts = await page.$$eval('script', (ss) => ss.map((x) => x.getAttribute('src')));
    assert.equal(scripts.length, 1, `only the monitor's own script: ${JSON.stringify(scripts)}`);
    assert.match(scripts[0] ?? '', /^\/monitor\/assets\/monitor\.js\?v=/);
    await shot(page, '08-xss-as-text');
    await page.close();
    assert.deepEqual(incidents, [], 'no dialogs, page errors or console (CSP) errors');
  });

  test('pilots and job types tables filter, sort and link', async () => {
    const page = await newPage();
    await page.goto(`${s.url}/monitor/pilots?state=active&sort=-jobs`);
    const rows = await tableRows(page);
    assert.ok(rows.length >= 1);
    assert.ok(rows.every((r) => r.state === 'active'));
    await shot(page, '09-pilots');
    await page.goto(`${s.url}/monitor/jobtypes?name=e2e-f`);
    assert.deepEqual(
      (await tableRows(page)).map((r) => r.type),
      ['e2e-fa', 'e2e-fb'],
    );
    await shot(page, '10-jobtypes');
    await page.goto(`${s.url}/monitor/data`);
    assert.equal(await page.textContent('h1'), 'Data');
    await page.close();
  });

  test('the dashboard refresh never reads the jobs table, and every monitor call is in its iam', async () => {
    counter.reset();
    const r = await s.call('GET', '/monitor/live.json', { token: viewerToken });
    assert.equal(r.status, 200);
    assert.equal(typeof r.body.parts.counts, 'string');
    const page = await s.call('GET', '/', { token: viewerToken });
    assert.equal(page.status, 200);
    const tables = counter
      .tally()
      .filter((t) => t.fn === 'monitorLive' || t.fn === 'monitorDashboard')
      .map((t) => t.table);
    assert.ok(tables.includes('stats'));
    assert.equal(tables.includes('jobs'), false, `tables read: ${tables.join(', ')}`);
    assert.deepEqual(
      counter.iamViolations().filter((v) => v.startsWith('monitor')),
      [],
    );
  });

  test('signing out forgets the cookie', async () => {
    const page = await newPage();
    await page.goto(`${s.url}/`);
    await Promise.all([page.waitForURL('**/monitor/signin'), page.click('header.top .who button')]);
    assert.deepEqual(
      (await ctx.cookies()).filter((c) => c.name === 'p3s_token'),
      [],
    );
    await page.goto(`${s.url}/`);
    assert.equal(new URL(page.url()).pathname, '/monitor/signin');
    await page.close();
  });
});
