import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Job } from '../../shared/core/job/job.ts';
import { niceMax, throughputSvg } from '../../shared/monitor/charts.ts';
import { type Column, parseSort, sortRows } from '../../shared/monitor/components.ts';
import { ago, duration } from '../../shared/monitor/format.ts';
import { forBrowser } from '../../shared/monitor/page-route.ts';
import { jobPage, timeline } from '../../shared/monitor/pages/job.ts';
import { jobsPage } from '../../shared/monitor/pages/jobs.ts';
import { filterJobtypes, type JobtypeRow } from '../../shared/monitor/pages/jobtypes.ts';
import { DashboardQuery, JobsQuery, jobFilter, jobsParams } from '../../shared/monitor/queries.ts';
import { safeNext, tokenCookie } from '../../shared/monitor/session.ts';

const EVIL = '<script>alert(1)</script>';
const NOW = Date.parse('2026-01-01T12:00:00Z');
const job: Job = {
  id: '11111111-2222-3333-4444-555555555555',
  name: EVIL,
  jobtype: 'dqm',
  payload: `/bin/echo "${EVIL}"`,
  env: { NOTE: `"><img src=x onerror=alert(2)>`, A: '1' },
  priority: 5,
  timelimit: 60,
  state: 'finished',
  user: 'alice',
  pilotId: '99999999-2222-3333-4444-555555555555',
  host: 'wn<1>',
  exitCode: 0,
  stdoutTail: `line 1\n${EVIL}\n`,
  stderrTail: '</pre><script>x</script>',
  createdAt: '2026-01-01T11:59:00.000Z',
  definedAt: '2026-01-01T11:59:00.000Z',
  dispatchedAt: '2026-01-01T11:59:00.050Z',
  startedAt: '2026-01-01T11:59:00.080Z',
  endedAt: '2026-01-01T11:59:10.080Z',
  stateAt: '2026-01-01T11:59:10.080Z',
  ...({ ruleId: '<rule>' } as object),
};

describe('monitor pages', () => {
  test('a job page shows hostile names, env, payload and output tails as text only', () => {
    const out = jobPage({ job }, { nowMs: NOW });
    assert.doesNotMatch(out.slice(out.indexOf('<main')), /<script|<img|<rule>/);
    assert.match(out, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
    assert.match(out, /<pre class="tail">line 1\n&lt;script&gt;alert\(1\)&lt;\/script&gt;\n<\/pre>/);
    assert.match(out, /&quot;&gt;&lt;img src=x onerror=alert\(2\)&gt;/);
    assert.match(out, /ruleId/, 'fields beyond the known ones are listed too');
    assert.equal((out.match(/<script/g) ?? []).length, 1, "only the monitor's own script tag");
  });

  test('the timeline lists the steps of a job in time order with the wait between them', () => {
    assert.deepEqual(
      timeline(job).map((s) => s.label),
      [
        'created and queued (defined)',
        'dispatched to a pilot on wn<1>',
        'started (pilot reported jobstart)',
        'ended: finished',
      ],
    );
    const stale = {
      ...job,
      state: 'stale' as const,
      dispatchedAt: undefined,
      startedAt: undefined,
      endedAt: undefined,
      stateAt: '2026-01-01T11:59:30.000Z',
    };
    assert.deepEqual(
      timeline(stale).map((s) => s.label),
      ['created and queued (defined)', 'now stale'],
    );
  });

  test('the jobs page keeps every filter in its links and form', () => {
    const query = JobsQuery.parse({
      state: 'defined,running',
      jobtype: 'dqm',
      user: 'a"b',
      limit: '25',
      sort: '-name',
    });
    const out = jobsPage(
      { jobs: [job], nextCursor: 'CUR', query, jobtypes: ['dqm', 'reco'], counts: { defined: 3 } },
      { nowMs: NOW },
    );
    assert.match(
      out,
      /href="\/monitor\/jobs\?state=defined%2Crunning&amp;jobtype=dqm&amp;user=a%22b&amp;limit=25&amp;sort=-name&amp;cursor=CUR"/,
    );
    assert.match(out, /<input type="checkbox" name="state" value="running" checked>/);
    assert.match(out, /<input name="user" value="a&quot;b"/);
    assert.match(out, /aria-sort="descending"/);
  });
});

describe('monitor queries and helpers', () => {
  test('empty form fields are no filter; a window wins over since/until', () => {
    const q = JobsQuery.parse({
      state: '',
      jobtype: '',
      user: '',
      window: '1h',
      since: '2020-01-01',
      limit: '',
    });
    assert.equal(q.limit, 50);
    const f = jobFilter(q, NOW);
    assert.equal(f.state, undefined);
    assert.equal(f.since, '2026-01-01T11:00:00.000Z');
    assert.equal(jobsParams(q).since, undefined);
  });

  test('times without an offset are UTC; impossible dates are refused', () => {
    assert.equal(JobsQuery.parse({ since: '2026-01-31T18:00' }).since, '2026-01-31T18:00:00.000Z');
    assert.equal(JobsQuery.parse({ since: '2026-01-31' }).since, '2026-01-31T00:00:00.000Z');
    assert.equal(JobsQuery.parse({ until: '2026-01-31T18:00+02:00' }).until, '2026-01-31T16:00:00.000Z');
    for (const bad of ['2020-13-45T00:00:00Z', 'yesterday', '2024-01-01T00:00:00+25:00'])
      assert.equal(JobsQuery.safeParse({ since: bad }).success, false, bad);
    assert.equal(JobsQuery.safeParse({ state: 'defined,bogus' }).success, false);
    assert.equal(DashboardQuery.safeParse({ refresh: '3' }).success, false);
    assert.equal(DashboardQuery.parse({}).refresh, 5);
  });

  test('sorting is by a known column only, stable, missing values last', () => {
    type R = { n: string; v?: number };
    const cols: Column<R>[] = [
      { key: 'v', label: 'v', cell: (r) => r.v, value: (r) => r.v },
      { key: 'n', label: 'n', cell: (r) => r.n },
    ];
    const rows: R[] = [{ n: 'a', v: 2 }, { n: 'b' }, { n: 'c', v: 1 }, { n: 'd', v: 2 }];
    assert.deepEqual(
      sortRows(rows, cols, 'v').map((r) => r.n),
      ['c', 'a', 'd', 'b'],
    );
    assert.deepEqual(
      sortRows(rows, cols, '-v').map((r) => r.n),
      ['a', 'd', 'c', 'b'],
    );
    assert.equal(parseSort('n', cols), undefined, 'a column without a value is not sortable');
    assert.deepEqual(sortRows(rows, cols, 'nope'), rows);
  });

  test('job types filter by name and by being at their cap', () => {
    const row = (name: string, inFlight: number, limit: number | null): JobtypeRow => ({
      name,
      queued: 0,
      inFlight,
      limit,
      priority: null,
      deadline: null,
      sampling: null,
      stale: 0,
      dropped: 0,
    });
    const all = [row('dqm-a', 2, 2), row('dqm-b', 1, 2), row('reco', 5, null)];
    assert.deepEqual(
      filterJobtypes(all, { name: 'DQM', limit: 100, page: 1 }).map((t) => t.name),
      ['dqm-a', 'dqm-b'],
    );
    assert.deepEqual(
      filterJobtypes(all, { atcap: '1', limit: 100, page: 1 }).map((t) => t.name),
      ['dqm-a'],
    );
  });

  test('sign-in only returns to a path on this site, and its cookie is HttpOnly and SameSite=Strict', () => {
    assert.equal(safeNext('/monitor/jobs?state=running'), '/monitor/jobs?state=running');
    for (const bad of [
      undefined,
      '',
      'https://evil.example/',
      '//evil.example',
      '/\\evil.example',
      '/monitor/signin',
      '/\t/evil.example',
      '\t//evil.example',
      '/\n/evil.example',
      '/%2F/evil.example',
      '/.//evil.example',
    ])
      assert.equal(safeNext(bad), '/', String(bad));
    // Tabs and newlines are dropped, as the browser drops them: no header can be injected.
    assert.equal(safeNext('/x\r\nSet-Cookie: a=b'), '/xSet-Cookie:%20a=b');
    assert.equal(safeNext('/monitor/jo\tbs'), '/monitor/jobs');
    assert.equal(
      tokenCookie('p3s_a_b', false),
      'p3s_token=p3s_a_b; Path=/; HttpOnly; SameSite=Strict; Max-Age=2592000',
    );
    assert.match(tokenCookie('t', true), /; Secure;/);
  });

  test('a browser without credentials is redirected to sign in; scripts keep their 401', () => {
    const res = {
      statusCode: 401,
      headers: {},
      body: JSON.stringify({ code: 'unauthorized', message: 'missing bearer token' }),
    };
    const ev = (headers: Record<string, string>) =>
      ({
        headers,
        rawPath: '/monitor/jobs',
        rawQueryString: 'state=running',
        cookies: ['p3s_token=old'],
      }) as any;
    const browser = forBrowser(ev({ accept: 'text/html,application/xhtml+xml' }), res);
    assert.equal(browser.statusCode, 302);
    assert.equal(
      (browser.headers as Record<string, string>).location,
      '/monitor/signin?next=%2Fmonitor%2Fjobs%3Fstate%3Drunning',
    );
    assert.match(String(browser.cookies?.[0]), /^p3s_token=; .*Max-Age=0/, 'a stale cookie is cleared');
    const script = forBrowser(ev({ accept: 'text/html', authorization: 'Bearer bad' }), res);
    assert.equal(script.statusCode, 401);
    assert.match(String(script.body), /<p class="error-box">missing bearer token<\/p>/);
    assert.equal(forBrowser(ev({}), res).statusCode, 401);
  });

  test('durations, ages and the chart axis read naturally', () => {
    assert.deepEqual([850, 12_300, 245_000, 7_500_000, 200_000_000].map(duration), [
      '850 ms',
      '12 s',
      '4 min 5 s',
      '2 h 5 min',
      '2 d 7 h',
    ]);
    assert.equal(ago('2026-01-01T11:59:55.000Z', NOW), '5 s ago');
    assert.equal(ago('2026-01-01T11:00:00.000Z', NOW), '60 min ago');
    assert.deepEqual([0, 1, 3, 7, 11, 180, 999].map(niceMax), [1, 1, 5, 10, 20, 200, 1000]);
    const svg = throughputSvg(
      [{ minute: '2026-01-01T11:59', started: 3, ended: 4, finished: 2, failed: 1 }],
      { id: 'tp' },
    ).value;
    assert.equal(
      (svg.match(/<rect class="bar /g) ?? []).length,
      3,
      'finished, failed and other ends stacked',
    );
    assert.match(svg, /Started 3, ended 4 \(finished 2, failed 1\)/);
  });
});
