/**
 * The monitor as a shifter uses it, in real headless Chromium (Debian's `chromium` via
 * playwright-core) at the two screens it is judged on, 1366×768 (a laptop) and 1920×1080 (the
 * control room): alerts on what needs acting on, the dashboard's essentials above the fold,
 * tables that fit the width, workflows with their progress and files, a running job's output
 * while it runs (a real pilot process), and the read-only pages of sites, DAGs, datatypes and
 * rules. Screenshots go to test-output/screenshots/shifter/ (not committed).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { repoRoot } from '../../localstack/runtime/serverless-config.ts';
import { tableName } from '../../shared/config.ts';
import { db } from '../../shared/db/client.ts';
import { SimPilot } from '../helpers/pilot-sim.ts';
import { type PilotProcess, startPilot } from '../helpers/pilots.ts';
import { startTestStack, type TestStack, waitFor } from '../helpers/stack.ts';

const CHROMIUM = process.env.P3S_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = join(repoRoot, 'test-output', 'screenshots', 'shifter');
const LAPTOP = { width: 1366, height: 768 };
const CONTROL_ROOM = { width: 1920, height: 1080 };

let s: TestStack;
let browser: Browser;
let ctx: BrowserContext;
const pilots: SimPilot[] = [];
const incidents: string[] = [];
let realPilot: PilotProcess | undefined;

async function newPage(size = LAPTOP): Promise<Page> {
  const page = await ctx.newPage();
  await page.setViewportSize(size);
  page.on('pageerror', (e) => incidents.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') incidents.push(`console: ${m.text()}`);
  });
  return page;
}

async function shot(page: Page, name: string, fullPage = false): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage });
}

async function submit(jobs: Record<string, unknown>[]): Promise<{ id: string; name: string }[]> {
  const r = await s.call('POST', '/jobs', { body: jobs });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

async function pilot(host = 'wn-shift'): Promise<SimPilot> {
  const p = new SimPilot(s, { host });
  assert.equal((await p.register()).status, 201);
  pilots.push(p);
  return p;
}

/** Runs one job on a simulated pilot: it ends with `exitCode`, or as a nonstarter. */
async function run(job: Record<string, unknown>, end: { exitCode: number } | 'nonstarter', p?: SimPilot) {
  const [j] = await submit([job]);
  const pl = p ?? (await pilot());
  const got = await pl.poll(5);
  assert.equal(got.body.job?.id, j!.id, `the pilot got ${String(job.name)}`);
  if (end === 'nonstarter') {
    assert.equal(
      (await pl.report({ event: 'nonstarter', jobId: j!.id, message: 'ENOENT: no such file' })).status,
      200,
    );
  } else {
    assert.equal((await pl.report({ event: 'jobstart', jobId: j!.id })).status, 200);
    assert.equal((await pl.report({ event: 'jobstop', jobId: j!.id, ...end })).status, 200);
  }
  return j!;
}

/** Where an element ends on the page, in CSS pixels from the top of the document. */
const bottomOf = (page: Page, sel: string) =>
  page.$eval(sel, (e: any) => e.getBoundingClientRect().bottom + (globalThis as any).scrollY);

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium`);
  mkdirSync(SHOTS, { recursive: true });
  s = await startTestStack({ P3S_REAPER_INTERVAL: '1' });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
  });
  const viewer = (await s.call('POST', '/tokens', { body: { role: 'viewer', name: 'shifter' } })).body.token;
  ctx = await browser.newContext({ extraHTTPHeaders: { authorization: `Bearer ${viewer}` } });
});

after(async () => {
  await realPilot?.stop();
  for (const p of pilots) await p.report({ event: 'stopped' }).catch(() => undefined);
  await browser?.close();
  await s?.close();
});

describe('the monitor for a shifter', () => {
  test('with jobs queued and no pilot alive, the dashboard says so first, as critical', async () => {
    await submit([{ name: 'waiting', jobtype: 'dqm', payload: '/bin/true', site: 'far-away' }]);
    const page = await newPage();
    await page.goto(`${s.url}/?refresh=1`);
    const a = await page.waitForSelector('[data-part="alerts"] li.critical[data-code="no-live-pilots"]', {
      timeout: 15_000,
    });
    assert.match((await a.textContent()) ?? '', /No live pilots: 1 queued job cannot start\./);
    assert.equal(await a.$eval('a', (x: any) => x.getAttribute('href')), '/monitor/pilots');
    assert.equal(await page.textContent('[data-tile="pilots"] .value'), '0');
    await shot(page, '01-no-pilots-1366x768');
    await page.close();
  });

  test('failures, nonstarters, a queue past its deadline, slow dispatch and a silent source raise alerts that link to their tables', async () => {
    // 3 good dqm jobs; evdisp: 5 failed and 2 nonstarters (the issue's case); a job type with a
    // 1 s deadline whose job cannot start (stale, by the reaper); 5 jobs that waited 4 s.
    const p = await pilot('wn-good');
    for (let i = 0; i < 3; i++)
      await run({ name: `dqm-${i}`, jobtype: 'dqm', payload: '/bin/true' }, { exitCode: 0 }, p);
    for (let i = 0; i < 5; i++)
      await run({ name: `evdisp-${i}`, jobtype: 'evdisp', payload: 'exit 2' }, { exitCode: 2 }, p);
    for (let i = 0; i < 2; i++)
      await run({ name: `evdisp-ns-${i}`, jobtype: 'evdisp', payload: '/no/such/program' }, 'nonstarter', p);
    assert.equal((await s.call('PUT', '/jobtypes/late', { body: { deadline: 1 } })).status, 200);
    await submit([{ name: 'too-late', jobtype: 'late', payload: '/bin/true', site: 'far-away' }]);
    const slow = await submit(
      Array.from({ length: 5 }, (_, i) => ({
        name: `slow-${i}`,
        jobtype: 'reco',
        payload: '/bin/true',
        state: 'held',
      })),
    );
    for (const j of slow) {
      // Queued 4 s ago (as if no pilot had been free): released now, started at once.
      await db().send(
        new UpdateCommand({
          TableName: tableName('jobs'),
          Key: { id: j.id },
          UpdateExpression: 'SET definedAt = :t',
          ExpressionAttributeValues: { ':t': new Date(Date.now() - 4000).toISOString() },
        }),
      );
      assert.equal((await s.call('PATCH', `/jobs/${j.id}`, { body: { hold: false } })).status, 200);
      const got = await p.poll(5);
      assert.equal(got.body.job?.id, j.id);
      await p.report({ event: 'jobstart', jobId: j.id });
      await p.report({ event: 'jobstop', jobId: j.id, exitCode: 0 });
    }
    // A watched directory that sent a file every few minutes for hours, and nothing for the last 2 h.
    for (let h = 2; h <= 9; h++) {
      await db().send(
        new PutCommand({
          TableName: tableName('stats'),
          Item: {
            pk: 'arrh',
            sk: new Date(Date.now() - h * 3_600_000).toISOString().slice(0, 13),
            watch: 20,
          },
        }),
      );
    }

    const page = await newPage();
    await page.goto(`${s.url}/?refresh=1`);
    const alert = (code: string, subject?: string) =>
      `[data-part="alerts"] li[data-code="${code}"]${subject ? `[data-subject="${subject}"]` : ''}`;
    await page.waitForSelector(alert('failures', 'evdisp'), { timeout: 20_000 });
    await page.waitForSelector(alert('queue-past-deadline', 'late'), { timeout: 20_000 });
    await page.waitForSelector(alert('latency'), { timeout: 20_000 });
    await page.waitForSelector(alert('source-silent', 'watch'), { timeout: 20_000 });
    const failures = page.locator(alert('failures', 'evdisp'));
    assert.equal(await failures.getAttribute('class'), 'critical');
    assert.match(
      (await failures.textContent()) ?? '',
      /evdisp: 7 of 7 jobs that ended in the last 15 min did not finish \(5 failed, 2 nonstarter\)/,
    );
    assert.equal(await page.locator(alert('failures', 'dqm')).count(), 0, 'dqm is fine');
    // The type table: evdisp first (it needs a look), 7 failed recently, linked to them.
    const firstRow = await page.getAttribute('[data-part="jobtypes"] tbody tr:first-child', 'data-jobtype');
    assert.equal(firstRow, 'evdisp');
    assert.equal(
      await page.textContent('[data-part="jobtypes"] tr[data-jobtype="evdisp"] td[data-col="failed"]'),
      '7',
    );
    assert.equal(
      await page.textContent('[data-part="jobtypes"] tr[data-jobtype="dqm"] td[data-col="finished"]'),
      '3',
    );

    // Above the fold at 1366×768: alerts, the type table, latency and throughput sparklines, live pilots.
    for (const sel of [
      '[data-part="alerts"]',
      '[data-part="jobtypes"] table',
      '[data-tile="latency"] svg.spark',
      '[data-tile="throughput"] svg.spark',
      '[data-tile="pilots"]',
      '[data-tile="failed"]',
    ]) {
      const bottom = await bottomOf(page, sel);
      assert.ok(bottom <= LAPTOP.height, `${sel} ends at ${bottom}px, below the fold of ${LAPTOP.height}px`);
    }
    assert.equal(
      await page.evaluate(() => (globalThis as any).document.documentElement.scrollWidth),
      LAPTOP.width,
      'no sideways scroll',
    );
    await shot(page, '02-dashboard-alerts-1366x768');
    await shot(page, '02-dashboard-alerts-1366x768-full', true);
    await page.setViewportSize(CONTROL_ROOM);
    await shot(page, '03-dashboard-alerts-1920x1080');

    // Each alert's link is its filtered table.
    await page.setViewportSize(LAPTOP);
    await Promise.all([page.waitForURL(/\/monitor\/jobs\?/), failures.locator('a').click()]);
    const u = new URL(page.url());
    assert.deepEqual(u.searchParams.get('state')?.split(',').sort(), ['failed', 'nonstarter']);
    assert.equal(u.searchParams.get('jobtype'), 'evdisp');
    const rows = await page.$$eval('main table tbody tr', (trs: any[]) =>
      trs.map((tr) => tr.querySelector('td:nth-child(4)')?.textContent?.trim()),
    );
    assert.equal(rows.length, 7);
    assert.ok(
      rows.every((st) => st === 'failed' || st === 'nonstarter'),
      rows.join(','),
    );
    await shot(page, '04-failures-table-1366x768');
    await page.goto(`${s.url}/`);
    await Promise.all([
      page.waitForURL(/\/monitor\/data\?source=watch/),
      page.locator(`${alert('source-silent', 'watch')} a`).click(),
    ]);
    await page.close();
  });

  test('the jobs table fits the width: one line per job, long values cut with an ellipsis and whole on hover', async () => {
    const longName = `reco-${'np04_raw_run005141_0001_dl1_'.repeat(6)}`;
    const longUser = 'a-very-long-user-name-from-the-collaboration';
    await submit([
      {
        name: longName,
        jobtype: 'reconstruction-with-a-long-type',
        payload: '/bin/true',
        user: longUser,
        state: 'held',
      },
    ]);
    for (const size of [LAPTOP, CONTROL_ROOM]) {
      const page = await newPage(size);
      await page.goto(`${s.url}/monitor/jobs?limit=25`);
      const m = await page.evaluate(() => {
        const d = (globalThis as any).document;
        const table = d.querySelector('main table');
        const rows = [...table.tBodies[0].rows] as any[];
        const heights = rows.map((r) => r.getBoundingClientRect().height);
        return {
          docWidth: d.documentElement.scrollWidth,
          tableOver: table.scrollWidth - table.clientWidth,
          maxRow: Math.max(...heights),
          minRow: Math.min(...heights),
          ended: [...table.tHead.rows[0].cells].map((c: any) => c.getBoundingClientRect().right),
        };
      });
      assert.equal(m.docWidth, size.width, `no sideways scroll at ${size.width}`);
      assert.ok(m.tableOver <= 0, 'the table is no wider than the page');
      assert.ok(Math.max(...m.ended) <= size.width, 'every column, run time included, is on screen');
      assert.ok(m.maxRow < m.minRow * 1.5, `one line per job (${m.minRow}–${m.maxRow}px)`);
      const cell = page.locator('main table tbody td', { hasText: 'reco-np04' }).first();
      assert.equal(await cell.getAttribute('title'), longName, 'the full name on hover');
      assert.ok(
        await cell.evaluate(
          (e: any) =>
            e.scrollWidth > e.clientWidth &&
            (globalThis as any).getComputedStyle(e).textOverflow === 'ellipsis',
        ),
        'cut with an ellipsis',
      );
      const user = page.locator('main table tbody td', { hasText: 'a-very-long-user' }).first();
      assert.equal(await user.getAttribute('title'), longUser);
      // Times are compact: the time of day for today.
      assert.match((await page.textContent('main table tbody time.short')) ?? '', /^\d\d:\d\d:\d\d$/);
      await shot(page, `05-jobs-${size.width}x${size.height}`);
      await page.close();
    }
  });

  test('the workflows list shows name, DAG, progress and state; a workflow page shows the files on its edges', async () => {
    assert.equal((await s.call('POST', '/datatypes', { body: { name: 'TXT', ext: '.txt' } })).status, 200);
    const v = (name: string, jobtype = 'wfdqm') => ({ name, jobtype, payload: '/bin/true' });
    const dag = {
      name: 'hitcount-e2e',
      description: 'count hits, then plot them',
      vertices: [v('count'), v('plot'), v('publish', 'noop')],
      edges: [
        {
          source: 'count',
          target: 'plot',
          datatype: 'TXT',
          datatag: 'HITS',
          name: 'hits.txt',
          dirpath: '/tmp/p3s-e2e/',
        },
        {
          source: 'plot',
          target: 'publish',
          datatype: 'TXT',
          datatag: 'SUMMARY',
          name: 'summary.txt',
          dirpath: '/tmp/p3s-e2e/',
        },
      ],
    };
    assert.equal((await s.call('POST', '/dags', { body: { dag } })).status, 201);
    const wf = await s.call('POST', '/workflows', {
      body: { dag: 'hitcount-e2e', name: 'run 5141 hits', state: 'defined' },
    });
    assert.equal(wf.status, 201, JSON.stringify(wf.body));
    const id: string = wf.body.id;
    const p = await pilot('wn-wf');
    for (const vertex of ['count', 'plot']) {
      const got = await waitFor(
        async () => {
          const r = await p.poll(2);
          return r.body.job?.vertex === vertex ? r.body.job : undefined;
        },
        { what: `${vertex} dispatched`, timeoutMs: 15_000 },
      );
      await p.report({ event: 'jobstart', jobId: got.id });
      await p.report({ event: 'jobstop', jobId: got.id, exitCode: 0 });
    }
    await waitFor(async () => (await s.call('GET', `/workflows/${id}`)).body.state === 'finished', {
      what: 'the workflow finished',
      timeoutMs: 15_000,
    });
    const page = await newPage();
    await page.goto(`${s.url}/monitor/workflows`);
    const row = page.locator('main table tbody tr', { hasText: 'run 5141 hits' });
    const cells = await row.locator('td').allTextContents();
    assert.deepEqual(
      cells.slice(0, 4).map((c) => c.trim()),
      ['run 5141 hits', 'hitcount-e2e', '3 of 3 finished', 'finished'],
    );
    assert.equal(
      await row.locator('a', { hasText: 'hitcount-e2e' }).getAttribute('href'),
      '/monitor/dags/hitcount-e2e',
    );
    await shot(page, '06-workflows-1366x768');
    await Promise.all([
      page.waitForURL(`**/monitor/workflows/${id}`),
      row.locator('a', { hasText: 'run 5141 hits' }).click(),
    ]);
    const files = await page.$$eval('#files table tbody tr', (trs: any[]) =>
      trs.map((tr) => [...tr.cells].slice(0, 4).map((c: any) => c.textContent.trim())),
    );
    assert.equal(files.length, 2);
    assert.deepEqual(files[0]!.slice(0, 3), ['count → plot', 'HITS', 'TXT']);
    assert.match(files[0]![3]!, /^\/tmp\/p3s-e2e\/[0-9a-f-]+\.txt$/, 'a per-workflow file name');
    assert.deepEqual(files[1]!.slice(0, 3), ['plot → publish', 'SUMMARY', 'TXT']);
    assert.equal((await page.$$('svg.dag g.vertex')).length, 3);
    assert.match((await page.textContent('main dl.kv')) ?? '', /3 of 3 finished/);
    await shot(page, '07-workflow-files-1366x768', true);
    await page.setViewportSize(CONTROL_ROOM);
    await shot(page, '07-workflow-files-1920x1080');
    await page.close();
  });

  test("a running job's stdout and stderr show while it runs (tails on heartbeats, a real pilot)", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'p3s-live-'));
    const go = join(dir, 'go');
    realPilot = startPilot(s.url, s.pilotToken, ['--cycles', '0']);
    const [j] = await submit([
      {
        name: 'live-output',
        jobtype: 'live',
        payload: `echo "event 1 processed"; echo "calibration warning" >&2; while [ ! -e '${go}' ]; do sleep 0.1; done; echo "all events done"`,
        env: { P3S_EXECMODE: 'SHELL' },
      },
    ]);
    const running = await waitFor(
      async () => {
        const r = (await s.call('GET', `/jobs/${j!.id}`)).body;
        return r.state === 'running' && r.stdoutTail?.includes('event 1 processed') ? r : undefined;
      },
      { what: 'the running job has its stdout tail', timeoutMs: 30_000, intervalMs: 100 },
    );
    assert.equal(running.stderrTail, 'calibration warning\n');
    const page = await newPage();
    await page.goto(`${s.url}/monitor/jobs/${j!.id}`);
    assert.match((await page.textContent('h1')) ?? '', /live-output\s+running/);
    assert.equal(await page.textContent('[data-tail="stdout"] pre.tail'), 'event 1 processed\n');
    assert.equal(await page.textContent('[data-tail="stderr"] pre.tail'), 'calibration warning\n');
    assert.match((await page.textContent('[data-tail="stdout"] h2')) ?? '', /live tail, as of \d+ s ago/);
    await shot(page, '08-running-job-live-tail-1366x768');
    writeFileSync(go, '');
    // The page reloads itself while the job runs: it ends showing the final output.
    await page.waitForFunction(
      () =>
        /all events done/.test(
          (globalThis as any).document.querySelector('[data-tail="stdout"] pre')?.textContent ?? '',
        ),
      null,
      { timeout: 20_000 },
    );
    assert.match((await page.textContent('h1')) ?? '', /finished/);
    await page.close();
  });

  test('sites, DAG templates (drawn), datatypes and rules with their recent hits are there to read', async () => {
    const site = await s.call('PUT', '/sites/np04', {
      body: {
        pilots: 120,
        pilotcycles: 0,
        pilotperiod: 40,
        pilotbeat: 100,
        env: { P3S_DIRPATH: '/eos/np04' },
      },
    });
    assert.equal(site.status, 200);
    const rule = await s.call('POST', '/rules', {
      body: {
        name: 'raw-hits',
        match: { pattern: 'np04_raw_*.txt' },
        action: [{ name: 'hitmonitor', jobtype: 'monitor', payload: '/bin/true', state: 'held' }],
      },
    });
    assert.equal(rule.status, 201, JSON.stringify(rule.body));
    const reg = await s.call('POST', '/data', {
      body: [{ location: '/data/np04_raw_run5141.txt' }, { location: '/data/other.txt' }],
    });
    assert.equal(reg.status, 200);

    const page = await newPage();
    await page.goto(`${s.url}/monitor/sites`);
    assert.match((await page.textContent('main table tbody')) ?? '', /np04/);
    assert.match((await page.textContent('#site-np04')) ?? '', /P3S_DIRPATH\s*\/eos\/np04/);
    await shot(page, '09-sites-1366x768');
    await page.goto(`${s.url}/monitor/dags`);
    await Promise.all([
      page.waitForURL('**/monitor/dags/hitcount-e2e'),
      page.click('a:text-is("hitcount-e2e")'),
    ]);
    const drawn = await page.$$eval('svg.dag g.vertex', (gs: any[]) =>
      gs.map((g) => g.getAttribute('data-name')).sort(),
    );
    assert.deepEqual(drawn, ['count', 'plot', 'publish']);
    assert.match((await page.textContent('svg.dag')) ?? '', /noop/);
    await shot(page, '10-dag-1366x768', true);
    await page.goto(`${s.url}/monitor/datatypes`);
    assert.match((await page.textContent('main table tbody')) ?? '', /TXT\s*\.txt/);
    await page.goto(`${s.url}/monitor/rules`);
    const hits = await page.textContent('main table tbody tr:has(a:text-is("raw-hits")) td:nth-child(7)');
    assert.equal(hits?.trim(), 'jobs 1');
    await Promise.all([page.waitForURL('**/monitor/rules/raw-hits'), page.click('a:text-is("raw-hits")')]);
    const hitRows = await page.$$eval('#hits table tbody tr', (trs: any[]) =>
      trs.map((tr) => tr.cells[0].textContent.trim()),
    );
    assert.deepEqual(hitRows, ['np04_raw_run5141.txt']);
    await shot(page, '11-rule-hits-1366x768');
    // Every page is in the navigation.
    for (const label of ['DAGs', 'Rules', 'Datatypes', 'Sites'])
      assert.ok(await page.$(`header nav a:text-is("${label}")`));
    await page.close();
    assert.deepEqual(incidents, [], 'no page errors or console (CSP) errors');
  });
});
