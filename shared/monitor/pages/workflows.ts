import type { Job } from '../../core/job/job.ts';
import { badge, type Column, kv, options, pager, table, when, whenAgo } from '../components.ts';
import { dagSvg } from '../dag-svg.ts';
import { html, url } from '../html.ts';
import { layout, type PageCtx } from '../layout.ts';
import type { WorkflowsQuery } from '../queries.ts';
import type { WorkflowDetail, WorkflowRow } from '../sources.ts';
import { WORKFLOW_STATES } from '../states.ts';
import { JOB_COLUMNS } from './job-columns.ts';

const none = html`<span class="muted">—</span>`;

const COLUMNS: readonly Column<WorkflowRow>[] = [
  {
    key: 'id',
    label: 'workflow',
    cell: (w) => html`<a class="mono" href="/monitor/workflows/${encodeURIComponent(w.id)}">${w.id}</a>`,
    value: (w) => w.id,
  },
  { key: 'dag', label: 'DAG', cell: (w) => w.dag ?? none, value: (w) => w.dag },
  { key: 'state', label: 'state', cell: (w) => badge(w.state), value: (w) => w.state },
  { key: 'user', label: 'user', cell: (w) => w.user ?? none, value: (w) => w.user },
  { key: 'created', label: 'created', cell: (w) => when(w.createdAt), value: (w) => w.createdAt },
  { key: 'ended', label: 'ended', cell: (w) => when(w.endedAt), value: (w) => w.endedAt },
];

export function workflowsPage(
  d: { items: WorkflowRow[]; nextCursor?: string; query: WorkflowsQuery },
  ctx: PageCtx,
): string {
  const q = d.query;
  const params = {
    state: q.state,
    user: q.user,
    limit: q.limit === 50 ? undefined : String(q.limit),
    sort: q.sort,
  };
  return layout({
    title: 'Workflows',
    nav: 'workflows',
    ctx,
    body: html`<h1>Workflows</h1>
<form class="filters" method="get" action="/monitor/workflows" data-clean aria-label="Filter workflows">
<label>State <select name="state"><option value="">any</option>${options(WORKFLOW_STATES, q.state)}</select></label>
<label>User <input name="user" value="${q.user ?? ''}" size="12"></label>
${q.sort ? html`<input type="hidden" name="sort" value="${q.sort}">` : ''}
<button type="submit">Apply</button> <a href="/monitor/workflows">Clear filters</a>
</form>
${table({
  caption: html`${d.items.length} workflow${d.items.length === 1 ? '' : 's'} on this page${q.sort ? ', sorted within the page' : ', newest first'}.`,
  columns: COLUMNS,
  rows: d.items,
  path: '/monitor/workflows',
  params: { ...params, cursor: q.cursor },
  sort: q.sort,
  empty: 'No workflows match these filters.',
})}
${pager({
  first: q.cursor ? url('/monitor/workflows', params) : undefined,
  next: d.nextCursor ? url('/monitor/workflows', { ...params, cursor: d.nextCursor }) : undefined,
  info: '',
})}`,
  });
}

/**
 * A workflow: its DAG drawn with each vertex in the colour of its job's state, and its jobs.
 * Vertices come from the workflow's jobs (byWorkflow index); edges from the workflow record.
 */
export function workflowPage(
  d: { id: string; workflow?: WorkflowDetail; jobs: Job[] },
  ctx: PageCtx,
): string {
  const w = d.workflow;
  // In vertex order, so the drawing does not depend on the order the index returned the jobs.
  const jobs = [...d.jobs].sort((a, b) => (a.vertex ?? a.name).localeCompare(b.vertex ?? b.name));
  const vertices = jobs.map((j) => ({
    name: j.vertex ?? j.name,
    state: j.state,
    href: `/monitor/jobs/${encodeURIComponent(j.id)}`,
  }));
  const edges = w?.edges ?? [];
  const fields = w
    ? kv([
        ['id', html`<span class="mono">${w.id}</span>`],
        ['state', badge(w.state)],
        ['DAG', w.dag],
        ['user', w.user],
        ['created', w.createdAt ? whenAgo(w.createdAt, ctx.nowMs) : undefined],
        ['ended', w.endedAt ? whenAgo(w.endedAt, ctx.nowMs) : undefined],
        ...Object.entries(w.extra ?? {}).map(
          ([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)] as const,
        ),
      ])
    : html`${kv([['id', html`<span class="mono">${d.id}</span>`]])}<p class="muted">The workflow record is gone (deleted or purged); the graph shows its remaining jobs without edges.</p>`;
  return layout({
    title: `Workflow ${d.id}`,
    nav: 'workflows',
    ctx,
    body: html`<h1>Workflow <span class="mono">${d.id}</span>${w ? html` ${badge(w.state)}` : ''}</h1>
<div class="grid">
<section class="card wide"><h2>Fields</h2>${fields}</section>
<section class="card wide"><h2>DAG</h2>${
      vertices.length
        ? html`<div class="dagbox">${dagSvg({ vertices, edges }, { id: 'dag', title: `DAG of workflow ${d.id}` })}</div>`
        : html`<p class="muted">No jobs yet.</p>`
    }</section>
<section class="card wide">${table({
      caption: 'Jobs of this workflow',
      columns: [
        { key: 'vertex', label: 'vertex', cell: (j: Job) => j.vertex ?? none, value: (j: Job) => j.vertex },
        ...JOB_COLUMNS,
      ],
      rows: d.jobs,
      path: `/monitor/workflows/${encodeURIComponent(d.id)}`,
      params: {},
      sort: 'vertex',
      empty: 'No jobs.',
    })}</section>
</div>`,
  });
}
