import type { Data } from '../../core/data/data.ts';
import { DataState } from '../../core/data/data.ts';
import { Source } from '../../core/data/location.ts';
import { badge, type Column, options, pager, table, whenShort } from '../components.ts';
import { html, url } from '../html.ts';
import { layout, type PageCtx } from '../layout.ts';
import { type DataQuery, dataParams, WINDOWS } from '../queries.ts';
import { jobLink } from './job-columns.ts';

const none = html`<span class="muted">—</span>`;
/** Jobs linked from one file's row; the rest are counted. */
const MAX_JOB_LINKS = 3;

function made(d: Data) {
  const jobs = d.jobIds ?? [];
  const workflows = (d.triggers ?? []).flatMap((t) => (t.workflowId ? [t.workflowId] : []));
  if (!jobs.length && !workflows.length) return none;
  return html`${workflows.map(
    (w) => html`<a class="mono" href="/monitor/workflows/${encodeURIComponent(w)}">workflow</a> `,
  )}${jobs.slice(0, MAX_JOB_LINKS).map((j) => html`${jobLink(j)} `)}${
    jobs.length > MAX_JOB_LINKS ? html`<span class="muted">+${jobs.length - MAX_JOB_LINKS}</span>` : ''
  }`;
}

const COLUMNS: readonly Column<Data>[] = [
  { key: 'name', label: 'name', width: 'xl', cell: (d) => d.name, value: (d) => d.name },
  {
    key: 'location',
    label: 'location',
    cell: (d) => html`<code>${d.location}</code>`,
    value: (d) => d.location,
  },
  {
    key: 'datatype',
    label: 'datatype',
    width: 's',
    cell: (d) => d.datatype ?? none,
    value: (d) => d.datatype,
  },
  {
    key: 'size',
    label: 'bytes',
    width: 'm',
    numeric: true,
    cell: (d) => d.size ?? none,
    value: (d) => d.size,
  },
  { key: 'source', label: 'source', width: 's', cell: (d) => d.source, value: (d) => d.source },
  { key: 'state', label: 'state', width: 'm', cell: (d) => badge(d.state), value: (d) => d.state },
  {
    key: 'registered',
    label: 'registered',
    width: 't',
    cell: (d) => whenShort(d.registeredAt),
    value: (d) => d.registeredAt,
  },
  {
    key: 'announced',
    label: 'seen',
    width: 'xs',
    numeric: true,
    cell: (d) => d.announced,
    value: (d) => d.announced,
  },
  {
    key: 'made',
    label: 'made',
    width: 'l',
    cell: made,
    title: (d) => (d.triggers ?? []).map((t) => `${t.rule}: ${t.outcome}`).join(', ') || undefined,
  },
];

/** Registered files, newest first, filtered through the data repository (never a scan). */
export function dataPage(d: { items: Data[]; nextCursor?: string; query: DataQuery }, ctx: PageCtx): string {
  const q = d.query;
  const params = dataParams(q);
  return layout({
    title: 'Data',
    nav: 'data',
    ctx,
    body: html`<h1>Data</h1>
<form class="filters" method="get" action="/monitor/data" data-clean aria-label="Filter data">
<label>State <select name="state"><option value="">any</option>${options(DataState.options, q.state)}</select></label>
<label>Source <select name="source"><option value="">any</option>${options(Source.options, q.source)}</select></label>
<label>Datatype <input name="datatype" value="${q.datatype ?? ''}" size="10"></label>
<label>Name <input name="name" value="${q.name ?? ''}" size="16"></label>
<label>Window <select name="window"><option value="">any time</option>${options(
      Object.keys(WINDOWS).map((k) => [k, `last ${k}`] as const),
      q.window,
    )}</select></label>
${q.sort ? html`<input type="hidden" name="sort" value="${q.sort}">` : ''}
<button type="submit">Apply</button> <a href="/monitor/data">Clear filters</a>
</form>
${table({
  caption: html`${d.items.length} file${d.items.length === 1 ? '' : 's'} on this page${q.sort ? ', sorted within the page' : ', newest first'}.`,
  columns: COLUMNS,
  rows: d.items,
  path: '/monitor/data',
  params: { ...params, cursor: q.cursor },
  sort: q.sort,
  empty: 'No data match these filters.',
})}
${pager({
  first: q.cursor ? url('/monitor/data', params) : undefined,
  next: d.nextCursor ? url('/monitor/data', { ...params, cursor: d.nextCursor }) : undefined,
  info: '',
})}`,
  });
}
