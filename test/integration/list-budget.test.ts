import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { watchDynamo } from '../helpers/dynamo-watch.ts';
import { rawRequest } from '../helpers/routes.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

/**
 * The read budget of filtered listings (shared/db/cursor.ts ReadBudget): a request reads at most
 * BUDGET index items, however little its filter matches; a page that reaches it ends with a
 * cursor and `searchedBackTo`, and following the cursors lists every match exactly once. Reads
 * are counted from DynamoDB's own answers (ScannedCount of each listing query), not from the code.
 */
const BUDGET = 30;
const JOBS = 90;
/** Every 9th job is the rare user's. */
const RARE_EVERY = 9;
const LISTING_INDEXES = new Set(['list', 'byState', 'byPilot', 'byWorkflow']);

let s: TestStack;
let rareIds: string[] = [];
/** Index items read by listing queries since the last reset. */
let reads = 0;
let unwatch: () => void;

before(async () => {
  // No reaper rounds: only the requests under test query the listing indexes.
  s = await startTestStack({ P3S_LIST_READ_BUDGET: String(BUDGET), P3S_REAPER_INTERVAL: '3600' });
  const body = Array.from({ length: JOBS }, (_, i) => ({
    name: `j${i}`,
    jobtype: 'default',
    payload: '/bin/true',
    user: i % RARE_EVERY === 0 ? 'rare' : 'common',
  }));
  const r = await s.call('POST', '/jobs', { body });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  rareIds = (r.body as { id: string; user: string }[])
    .filter((j) => j.user === 'rare')
    .map((j) => j.id)
    .sort();
  unwatch = watchDynamo((c) => {
    if (c.command === 'Query' && LISTING_INDEXES.has(c.input.IndexName)) reads += c.output.ScannedCount ?? 0;
  });
});
after(async () => {
  unwatch?.();
  await s.close();
});

interface Page {
  items: { id: string }[];
  nextCursor?: string;
  searchedBackTo?: string;
  reads: number;
}

/** Follows a listing's cursors to the end; every page's reads are measured. */
async function walk(path: string, key: string): Promise<Page[]> {
  const pages: Page[] = [];
  let cursor: string | undefined;
  do {
    reads = 0;
    const sep = path.includes('?') ? '&' : '?';
    const r = await s.call('GET', cursor ? `${path}${sep}cursor=${encodeURIComponent(cursor)}` : path);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    pages.push({
      items: r.body[key],
      nextCursor: r.body.nextCursor,
      searchedBackTo: r.body.searchedBackTo,
      reads,
    });
    cursor = r.body.nextCursor;
    assert.ok(pages.length < 100, 'the cursors end');
  } while (cursor);
  return pages;
}

function assertBudgeted(pages: Page[], pageSize: number) {
  for (const [i, p] of pages.entries())
    assert.ok(
      p.reads <= Math.max(BUDGET, pageSize),
      `page ${i + 1} read ${p.reads} items (budget ${BUDGET})`,
    );
  // Pages cut by the budget say how far they searched, newest first.
  const times = pages.flatMap((p) => (p.searchedBackTo ? [p.searchedBackTo] : []));
  assert.deepEqual([...times].sort().reverse(), times, 'searchedBackTo goes back in time');
}

describe('read budget of filtered listings', () => {
  test('jobs: a filter that matches nothing pages through everything, a budget at a time', async () => {
    for (const path of ['/jobs?user=nobody&limit=10', '/jobs?state=defined&user=nobody&limit=10']) {
      const pages = await walk(path, 'jobs');
      assertBudgeted(pages, 10);
      assert.ok(pages.length >= Math.ceil(JOBS / BUDGET), `${path}: ${pages.length} pages`);
      assert.deepEqual(
        pages.flatMap((p) => p.items),
        [],
      );
      const cut = pages.slice(0, -1);
      assert.ok(
        cut.every((p) => p.searchedBackTo && p.nextCursor),
        `${path}: every page but the last was cut by the budget`,
      );
      assert.ok(pages.reduce((n, p) => n + p.reads, 0) >= JOBS, 'together the pages looked at every job');
    }
  });

  test('jobs: a filter that matches some lists each match exactly once, whatever the page size', async () => {
    for (const limit of [1, 3, 7, 50]) {
      for (const base of ['/jobs?user=rare', '/jobs?state=defined&user=rare']) {
        const pages = await walk(`${base}&limit=${limit}`, 'jobs');
        assertBudgeted(pages, limit);
        const ids = pages.flatMap((p) => p.items.map((j) => j.id));
        assert.deepEqual([...ids].sort(), rareIds, `${base}&limit=${limit}`);
      }
    }
  });

  test('jobs: a page that read past its last match resumes after it (none skipped at the end of an index)', async () => {
    // One workflow of 5 jobs: a filtered page of 2 reads all 5 in one query (the index ends).
    const dag = await s.call('POST', '/dags', {
      body: {
        dag: {
          name: 'five',
          vertices: ['a', 'b', 'c', 'd', 'e'].map((name) => ({
            name,
            jobtype: 'five',
            payload: '/bin/true',
          })),
        },
      },
    });
    assert.equal(dag.status, 201, JSON.stringify(dag.body));
    const wf = await s.call('POST', '/workflows', { body: { dag: 'five' } });
    assert.equal(wf.status, 201, JSON.stringify(wf.body));
    const pages = await walk(`/jobs?workflow=${wf.body.id}&jobtype=five&limit=2`, 'jobs');
    const ids = pages.flatMap((p) => p.items.map((j) => j.id)).sort();
    assert.deepEqual(ids, (wf.body.jobs as { id: string }[]).map((j) => j.id).sort());
  });

  test('jobs in several states: one page, within the budget, complete back to where it says', async () => {
    reads = 0;
    const r = await s.call('GET', '/jobs?state=defined,running&user=nobody');
    assert.equal(r.status, 200);
    assert.ok(reads <= BUDGET, `read ${reads}`);
    assert.deepEqual(r.body.jobs, []);
    assert.match(r.body.searchedBackTo, /^\d{4}-\d\d-\d\dT/);
  });

  test('data: the same for files', async () => {
    const files = Array.from({ length: 70 }, (_, i) => ({ location: `/data/budget/f${i}.root` }));
    assert.equal((await s.call('POST', '/data', { body: files })).status, 200);
    const none = await walk('/data?name=nothing.root&limit=10', 'data');
    assertBudgeted(none, 10);
    assert.ok(none.length >= 3 && none.slice(0, -1).every((p) => p.searchedBackTo));
    const one = await walk('/data?name=f17.root&limit=5', 'data');
    assertBudgeted(one, 5);
    assert.deepEqual(
      one.flatMap((p) => p.items.map((d) => (d as { location?: string }).location)),
      ['/data/budget/f17.root'],
    );
  });

  test('workflows: the same for workflows', async () => {
    const dag = await s.call('POST', '/dags', {
      body: {
        dag: { name: 'budget-dag', vertices: [{ name: 'only', jobtype: 'budget', payload: '/bin/true' }] },
      },
    });
    assert.equal(dag.status, 201, JSON.stringify(dag.body));
    for (let i = 0; i < 40; i++)
      assert.equal(
        (await s.call('POST', '/workflows', { body: { dag: 'budget-dag', name: `w${i}` } })).status,
        201,
      );
    const pages = await walk('/workflows?user=nobody&limit=5', 'workflows');
    assertBudgeted(pages, 5);
    assert.ok(pages.length >= 2 && pages[0]!.searchedBackTo, 'the first page was cut by the budget');
  });

  test('the monitor says how far it searched and its continue link goes on from there', async () => {
    const cookie = `p3s_token=${encodeURIComponent(s.adminToken)}`;
    let path: string | undefined = '/monitor/jobs?user=nobody&limit=25';
    let pages = 0;
    let notices = 0;
    while (path) {
      reads = 0;
      const r = await rawRequest(s.url, 'GET', path, { headers: { cookie, accept: 'text/html' } });
      assert.equal(r.status, 200);
      assert.ok(reads <= BUDGET, `page ${pages + 1} read ${reads}`);
      pages++;
      const notice =
        /<p class="notice" data-searched>Searched back to <time datetime="([^"]+)"[^>]*>[^<]*<\/time>(?: — <a href="([^"]+)" rel="next">continue<\/a>)?<\/p>/.exec(
          r.text,
        );
      if (notice) notices++;
      path = notice?.[2]?.replace(/&amp;/g, '&');
      assert.ok(pages < 50);
    }
    assert.ok(notices >= 2, `${notices} pages said how far they searched`);
  });
});
