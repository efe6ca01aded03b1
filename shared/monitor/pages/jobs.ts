import type { Job } from '../../core/job/job.ts';
import { options, pager, table, when } from '../components.ts';
import { html, url } from '../html.ts';
import { layout, type PageCtx } from '../layout.ts';
import { type JobsQuery, jobsParams, WINDOWS } from '../queries.ts';
import { JOB_STATES } from '../states.ts';
import { JOB_COLUMNS } from './job-columns.ts';

export interface JobsPageData {
  jobs: Job[];
  nextCursor?: string;
  /** The page ended on the read budget, having searched back to this time. */
  searchedBackTo?: string;
  query: JobsQuery;
  /** Job type names suggested by the type filter. */
  jobtypes: string[];
  /** Jobs per state, from the counters. */
  counts: Record<string, number>;
}

const PER_PAGE = ['25', '50', '100', '200', '400'];

/** The jobs table: every filter is a GET parameter, so the URL names the view exactly. */
export function jobsPage(d: JobsPageData, ctx: PageCtx): string {
  const q = d.query;
  const params = jobsParams(q);
  const selected = new Set<string>(q.state ?? []);
  const types = [...new Set([...(q.jobtype ?? []), ...d.jobtypes])].sort();
  const filters = html`<form class="filters" method="get" action="/monitor/jobs" data-clean aria-label="Filter jobs">
<fieldset><legend>State</legend>${JOB_STATES.map(
    (s) =>
      html`<label><input type="checkbox" name="state" value="${s}"${selected.has(s) ? html` checked` : ''}> ${s} <span class="muted">(${Math.max(0, d.counts[s] ?? 0)})</span></label>`,
  )}</fieldset>
<label>Type <input name="jobtype" value="${q.jobtype?.join(',') ?? ''}" list="jobtypes" size="12"></label>
<datalist id="jobtypes">${options(types, undefined)}</datalist>
<label>User <input name="user" value="${q.user ?? ''}" size="12"></label>
<label>Site <input name="site" value="${q.site?.join(',') ?? ''}" size="10"></label>
<label>Window <select name="window"><option value="">any time</option>${options(
    Object.keys(WINDOWS).map((k) => [k, `last ${k}`] as const),
    q.window,
  )}</select></label>
<label>Since (UTC) <input name="since" value="${q.window ? '' : (q.since ?? '')}" placeholder="2026-01-31T18:00Z" size="18"></label>
<label>Until (UTC) <input name="until" value="${q.window ? '' : (q.until ?? '')}" placeholder="2026-01-31T19:00Z" size="18"></label>
<label>Per page <select name="limit">${options(PER_PAGE, String(q.limit))}</select></label>
${q.sort ? html`<input type="hidden" name="sort" value="${q.sort}">` : ''}
<button type="submit">Apply</button> <a href="/monitor/jobs">Clear filters</a>
</form>`;
  const several = (q.state?.length ?? 0) > 1;
  const info = html`${d.jobs.length} job${d.jobs.length === 1 ? '' : 's'} on this page${
    q.sort ? ', sorted within the page' : ', newest first'
  }${several ? ' (several states: the newest of each, one page)' : ''}.`;
  const where = q.state?.length ? 'entered that state' : 'were created';
  const next = d.nextCursor ? url('/monitor/jobs', { ...params, cursor: d.nextCursor }) : undefined;
  // A filter that matches little stops after the read budget: say how far it looked.
  const searched = d.searchedBackTo
    ? html`<p class="notice" data-searched>Searched back to ${when(d.searchedBackTo)}${next ? html` — <a href="${next}" rel="next">continue</a>` : ''}</p>`
    : '';
  return layout({
    title: 'Jobs',
    nav: 'jobs',
    ctx,
    body: html`<h1>Jobs</h1>
${filters}
<p class="muted">The time window selects jobs that ${where} in it.</p>
${searched}
${table({
  caption: info,
  columns: JOB_COLUMNS,
  rows: d.jobs,
  path: '/monitor/jobs',
  params: { ...params, cursor: q.cursor },
  sort: q.sort,
  empty: 'No jobs match these filters.',
})}
${pager({
  first: q.cursor ? url('/monitor/jobs', params) : undefined,
  next,
  info: '',
})}`,
  });
}
