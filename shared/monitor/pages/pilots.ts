import type { Job } from '../../core/job/job.ts';
import type { Pilot } from '../../core/pilot/pilot.ts';
import { ago, badge, type Column, kv, options, pager, table, when, whenAgo } from '../components.ts';
import { between, duration } from '../format.ts';
import { html, url } from '../html.ts';
import { layout, type PageCtx } from '../layout.ts';
import type { PilotsQuery } from '../queries.ts';
import { PILOT_STATES } from '../states.ts';
import { JOB_COLUMNS, jobLink, pilotLink } from './job-columns.ts';

const none = html`<span class="muted">—</span>`;

const pilotColumns = (nowMs: number): Column<Pilot>[] => [
  { key: 'id', label: 'pilot', cell: (p) => pilotLink(p.id) },
  { key: 'host', label: 'host', cell: (p) => p.host, value: (p) => p.host },
  { key: 'site', label: 'site', cell: (p) => p.site ?? none, value: (p) => p.site },
  { key: 'state', label: 'state', cell: (p) => badge(p.state), value: (p) => p.state },
  { key: 'job', label: 'job', cell: (p) => (p.jobId ? jobLink(p.jobId) : none) },
  { key: 'jobs', label: 'jobs done', numeric: true, cell: (p) => p.jobcount, value: (p) => p.jobcount },
  { key: 'registered', label: 'registered', cell: (p) => when(p.registeredAt), value: (p) => p.registeredAt },
  {
    key: 'heartbeat',
    label: 'last heartbeat',
    cell: (p) => ago(p.lastSeenAt, nowMs),
    value: (p) => p.lastSeenAt,
  },
  {
    key: 'life',
    label: 'life',
    numeric: true,
    cell: (p) => duration(between(p.registeredAt, p.endedAt ?? p.lastSeenAt) ?? 0),
    value: (p) => between(p.registeredAt, p.endedAt ?? p.lastSeenAt),
  },
  { key: 'version', label: 'version', cell: (p) => p.version ?? none, value: (p) => p.version },
];

const params = (q: PilotsQuery) => ({
  state: q.state,
  site: q.site,
  host: q.host,
  limit: q.limit === 100 ? undefined : String(q.limit),
  sort: q.sort,
});

/** Pilots, newest registration first; the pilots table is small (TTL purge), so pages are by offset. */
export function pilotsPage(d: { pilots: Pilot[]; pages: number; query: PilotsQuery }, ctx: PageCtx): string {
  const q = d.query;
  const p = params(q);
  const page = Math.min(q.page, d.pages);
  return layout({
    title: 'Pilots',
    nav: 'pilots',
    ctx,
    body: html`<h1>Pilots</h1>
<form class="filters" method="get" action="/monitor/pilots" data-clean aria-label="Filter pilots">
<label>State <select name="state"><option value="">any</option>${options(PILOT_STATES, q.state)}</select></label>
<label>Site <input name="site" value="${q.site ?? ''}" size="10"></label>
<label>Host <input name="host" value="${q.host ?? ''}" size="14"></label>
<label>Per page <select name="limit">${options(['25', '50', '100', '200', '400'], String(q.limit))}</select></label>
${q.sort ? html`<input type="hidden" name="sort" value="${q.sort}">` : ''}
<button type="submit">Apply</button> <a href="/monitor/pilots">Clear filters</a>
</form>
${table({
  caption: html`Page ${page} of ${d.pages}${q.sort ? ', sorted within the page' : ', newest first'}.`,
  columns: pilotColumns(ctx.nowMs),
  rows: d.pilots,
  path: '/monitor/pilots',
  params: { ...p, page: page > 1 ? String(page) : undefined },
  sort: q.sort,
  empty: 'No pilots match these filters.',
})}
${pager({
  first: page > 1 ? url('/monitor/pilots', p) : undefined,
  next: page < d.pages ? url('/monitor/pilots', { ...p, page: String(page + 1) }) : undefined,
  info: '',
})}`,
  });
}

export function pilotPage(
  d: { pilot: Pilot; jobs: Job[]; nextCursor?: string; cursor?: string; sort?: string },
  ctx: PageCtx,
): string {
  const p = d.pilot;
  const path = `/monitor/pilots/${encodeURIComponent(p.id)}`;
  return layout({
    title: `Pilot ${p.host}`,
    nav: 'pilots',
    ctx,
    body: html`<h1>Pilot on ${p.host} ${badge(p.state)}</h1>
<div class="grid">
<section class="card wide"><h2>Fields</h2>${kv([
      ['id', html`<span class="mono">${p.id}</span>`],
      ['state', html`${badge(p.state)} <span class="muted">since</span> ${whenAgo(p.stateAt, ctx.nowMs)}`],
      ['host', p.host],
      ['site', p.site],
      ['pid', p.pid],
      ['batch id / extra', p.extra],
      ['version', p.version],
      ['resources', p.resources ? JSON.stringify(p.resources) : undefined],
      ['current job', p.jobId ? jobLink(p.jobId) : undefined],
      ['jobs done', p.jobcount],
      ['drain requested', p.drain ? 'yes' : undefined],
      ['kill requested', p.kill ? 'yes' : undefined],
      ['registered', whenAgo(p.registeredAt, ctx.nowMs)],
      ['last heartbeat', whenAgo(p.lastSeenAt, ctx.nowMs)],
      ['idle since', p.idleSince ? whenAgo(p.idleSince, ctx.nowMs) : undefined],
      ['ended', p.endedAt ? whenAgo(p.endedAt, ctx.nowMs) : undefined],
    ])}</section>
<section class="card wide">${table({
      caption: html`Jobs dispatched to this pilot, newest first`,
      columns: JOB_COLUMNS,
      rows: d.jobs,
      path,
      params: { cursor: d.cursor },
      sort: d.sort,
      empty: 'No jobs yet.',
    })}
${pager({
  first: d.cursor ? url(path, { sort: d.sort }) : undefined,
  next: d.nextCursor ? url(path, { sort: d.sort, cursor: d.nextCursor }) : undefined,
  info: '',
})}</section>
</div>`,
  });
}
