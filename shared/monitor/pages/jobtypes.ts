import { type Column, pager, paginate, sortRows, table } from '../components.ts';
import { duration } from '../format.ts';
import { html, url } from '../html.ts';
import { layout, type PageCtx } from '../layout.ts';
import type { JobtypesQuery } from '../queries.ts';

/** A job type with its live load (one entry of `summary().jobtypes`). */
export interface JobtypeRow {
  name: string;
  queued: number;
  inFlight: number;
  limit: number | null;
  priority: number | null;
  deadline: number | null;
  sampling: number | null;
  stale: number;
  dropped: number;
  /** Jobs that ended in the last 15 minutes, by end state. */
  recent?: Record<string, number>;
  /** Jobs dropped (shed) in the last hour. */
  droppedLastHour?: number;
}

const none = html`<span class="muted">none</span>`;
const atCap = (t: JobtypeRow) => t.limit !== null && t.inFlight >= t.limit;

const COLUMNS: readonly Column<JobtypeRow>[] = [
  {
    key: 'name',
    label: 'type',
    cell: (t) => html`<a href="${url('/monitor/jobs', { jobtype: t.name })}">${t.name}</a>`,
    value: (t) => t.name,
  },
  {
    key: 'queued',
    label: 'queued',
    numeric: true,
    cell: (t) =>
      html`<a href="${url('/monitor/jobs', { state: 'defined', jobtype: t.name })}">${t.queued}</a>`,
    value: (t) => t.queued,
  },
  {
    key: 'inflight',
    label: 'in flight',
    numeric: true,
    cell: (t) => html`${t.inFlight}${atCap(t) ? html` <span class="badge s-running">at cap</span>` : ''}`,
    value: (t) => t.inFlight,
  },
  {
    key: 'cap',
    label: 'cap',
    numeric: true,
    cell: (t) => t.limit ?? none,
    value: (t) => t.limit ?? undefined,
  },
  {
    key: 'priority',
    label: 'default priority',
    numeric: true,
    cell: (t) => t.priority ?? none,
    value: (t) => t.priority ?? undefined,
  },
  {
    key: 'deadline',
    label: 'deadline',
    numeric: true,
    cell: (t) => (t.deadline === null ? none : duration(t.deadline * 1000)),
    value: (t) => t.deadline ?? undefined,
  },
  {
    key: 'sampling',
    label: 'sampling',
    numeric: true,
    cell: (t) => (t.sampling === null ? none : `${Math.round(t.sampling * 1000) / 10} %`),
    value: (t) => t.sampling ?? undefined,
  },
  { key: 'stale', label: 'stale', numeric: true, cell: (t) => t.stale, value: (t) => t.stale },
  { key: 'dropped', label: 'dropped', numeric: true, cell: (t) => t.dropped, value: (t) => t.dropped },
];

/** Filters a job type list by the page's query (name substring, at cap only). */
export function filterJobtypes(rows: readonly JobtypeRow[], q: JobtypesQuery): JobtypeRow[] {
  const name = q.name?.toLowerCase();
  return rows.filter((t) => (!name || t.name.toLowerCase().includes(name)) && (!q.atcap || atCap(t)));
}

/** All job types are at hand (a small table), so filter, sort and pages apply to the whole list. */
export function jobtypesPage(d: { all: readonly JobtypeRow[]; query: JobtypesQuery }, ctx: PageCtx): string {
  const q = d.query;
  const sort = q.sort ?? 'name';
  const matching = sortRows(filterJobtypes(d.all, q), COLUMNS, sort);
  const { items, pages } = paginate(matching, q.page, q.limit);
  const params = {
    name: q.name,
    atcap: q.atcap,
    limit: q.limit === 100 ? undefined : String(q.limit),
    sort: q.sort,
  };
  const page = Math.min(q.page, pages);
  return layout({
    title: 'Job types',
    nav: 'jobtypes',
    ctx,
    body: html`<h1>Job types</h1>
<form class="filters" method="get" action="/monitor/jobtypes" data-clean aria-label="Filter job types">
<label>Name contains <input name="name" value="${q.name ?? ''}" size="14"></label>
<label><span><input type="checkbox" name="atcap" value="1"${q.atcap ? html` checked` : ''}> at cap only</span></label>
${q.sort ? html`<input type="hidden" name="sort" value="${q.sort}">` : ''}
<button type="submit">Apply</button> <a href="/monitor/jobtypes">Clear filters</a>
</form>
${table({
  caption: html`${matching.length} job type${matching.length === 1 ? '' : 's'}; page ${page} of ${pages}.`,
  columns: COLUMNS,
  rows: items,
  path: '/monitor/jobtypes',
  params: { ...params, page: page > 1 ? String(page) : undefined },
  sort,
  empty: 'No job types match.',
  rowClass: (t) => (atCap(t) ? 'atcap' : undefined),
})}
${pager({
  first: page > 1 ? url('/monitor/jobtypes', params) : undefined,
  next: page < pages ? url('/monitor/jobtypes', { ...params, page: String(page + 1) }) : undefined,
  info: '',
})}`,
  });
}
