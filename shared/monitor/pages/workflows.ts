import type { Job } from '../../core/job/job.ts';
import { badge, type Column, kv, options, pager, table, whenAgo, whenShort } from '../components.ts';
import { dagSvg } from '../dag-svg.ts';
import { type Html, html, url } from '../html.ts';
import { layout, type PageCtx } from '../layout.ts';
import type { WorkflowsQuery } from '../queries.ts';
import type { WorkflowDetail, WorkflowEdgeFile, WorkflowRow } from '../sources.ts';
import { WORKFLOW_STATES } from '../states.ts';
import { JOB_COLUMNS } from './job-columns.ts';

const none = html`<span class="muted">—</span>`;

/** "3 of 5 finished" (any end but finished makes a workflow failed or cancelled: then "ended"). */
function progressText(w: WorkflowRow): string | undefined {
  if (w.nvertices === undefined) return undefined;
  const done = w.ndone ?? 0;
  const word = w.state === 'failed' || w.state === 'cancelled' ? 'ended' : 'finished';
  return `${done} of ${w.nvertices} ${word}`;
}

function progress(w: WorkflowRow): Html {
  const t = progressText(w);
  if (!t) return none;
  return html`<progress max="${w.nvertices ?? 0}" value="${w.ndone ?? 0}" aria-hidden="true"></progress> ${t}`;
}

const dagLink = (dag: string | undefined) =>
  dag ? html`<a href="/monitor/dags/${encodeURIComponent(dag)}">${dag}</a>` : none;

const COLUMNS: readonly Column<WorkflowRow>[] = [
  {
    key: 'name',
    label: 'workflow',
    cell: (w) => html`<a href="/monitor/workflows/${encodeURIComponent(w.id)}">${w.name ?? w.id}</a>`,
    value: (w) => w.name ?? w.id,
    title: (w) => `${w.name ?? ''} (${w.id})`,
  },
  { key: 'dag', label: 'DAG', width: 'l', cell: (w) => dagLink(w.dag), value: (w) => w.dag },
  {
    key: 'progress',
    label: 'progress',
    width: 'xl',
    cell: progress,
    value: (w) => (w.nvertices ? (w.ndone ?? 0) / w.nvertices : undefined),
    title: progressText,
  },
  { key: 'state', label: 'state', width: 'm', cell: (w) => badge(w.state), value: (w) => w.state },
  { key: 'user', label: 'user', width: 's', cell: (w) => w.user ?? none, value: (w) => w.user },
  {
    key: 'input',
    label: 'input file',
    width: 'xl',
    cell: (w) => (w.inputFile ? html`<code>${w.inputFile.split('/').pop()}</code>` : none),
    value: (w) => w.inputFile,
  },
  {
    key: 'created',
    label: 'created',
    width: 't',
    cell: (w) => whenShort(w.createdAt),
    value: (w) => w.createdAt,
  },
  { key: 'ended', label: 'ended', width: 't', cell: (w) => whenShort(w.endedAt), value: (w) => w.endedAt },
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
        ['name', w.name],
        ['state', badge(w.state)],
        ['DAG', dagLink(w.dag)],
        ['progress', progress(w)],
        ['user', w.user],
        ['input file', w.inputFile ? html`<code>${w.inputFile}</code>` : undefined],
        [
          'rule',
          w.rule ? html`<a href="/monitor/rules/${encodeURIComponent(w.rule)}">${w.rule}</a>` : undefined,
        ],
        ['created', w.createdAt ? whenAgo(w.createdAt, ctx.nowMs) : undefined],
        ['started', w.startedAt ? whenAgo(w.startedAt, ctx.nowMs) : undefined],
        ['ended', w.endedAt ? whenAgo(w.endedAt, ctx.nowMs) : undefined],
      ])
    : html`${kv([['id', html`<span class="mono">${d.id}</span>`]])}<p class="muted">The workflow record is gone (deleted or purged); the graph shows its remaining jobs without edges.</p>`;
  const jobOf = new Map(jobs.map((j) => [j.vertex ?? j.name, j]));
  const files = w?.files ?? [];
  const filesTable = table({
    caption:
      'Files on its edges: each is written by the job at the source and read by the job at the target, under the datatag in their env',
    columns: [
      {
        key: 'edge',
        label: 'edge',
        width: 'xl',
        cell: (f: WorkflowEdgeFile) => html`${vertexLink(f.source)} → ${vertexLink(f.target)}`,
        value: (f: WorkflowEdgeFile) => `${f.source} → ${f.target}`,
      },
      {
        key: 'datatag',
        label: 'env',
        width: 'l',
        cell: (f: WorkflowEdgeFile) => html`<code>${f.datatag}</code>`,
        value: (f: WorkflowEdgeFile) => f.datatag,
      },
      {
        key: 'datatype',
        label: 'datatype',
        width: 'm',
        cell: (f: WorkflowEdgeFile) => f.datatype,
        value: (f: WorkflowEdgeFile) => f.datatype,
      },
      {
        key: 'path',
        label: 'file',
        cell: (f: WorkflowEdgeFile) => html`<code>${f.path}</code>`,
        value: (f: WorkflowEdgeFile) => f.path,
        title: (f: WorkflowEdgeFile) => `${f.path}${f.comment ? ` — ${f.comment}` : ''}`,
      },
      {
        key: 'state',
        label: 'writer',
        width: 'm',
        cell: (f: WorkflowEdgeFile) => badge(jobOf.get(f.source)?.state),
        value: (f: WorkflowEdgeFile) => jobOf.get(f.source)?.state,
      },
    ],
    rows: files,
    path: `/monitor/workflows/${encodeURIComponent(d.id)}`,
    params: {},
    empty: 'No files: the DAG has no edges.',
  });
  function vertexLink(v: string): Html {
    const j = jobOf.get(v);
    return j ? html`<a href="/monitor/jobs/${encodeURIComponent(j.id)}">${v}</a>` : html`${v}`;
  }
  return layout({
    title: `Workflow ${w?.name ?? d.id}`,
    nav: 'workflows',
    ctx,
    body: html`<h1>Workflow <span class="wf-name">${w?.name ?? d.id}</span>${w ? html` ${badge(w.state)}` : ''}</h1>
<div class="grid dash">
<section class="card"><h2>Fields</h2>${fields}</section>
<section class="card span2"><h2>DAG</h2>${
      vertices.length
        ? html`<div class="dagbox">${dagSvg({ vertices, edges }, { id: 'dag', title: `DAG of workflow ${d.id}` })}</div>`
        : html`<p class="muted">No jobs yet.</p>`
    }</section>
<section class="card wide" id="files">${filesTable}</section>
<section class="card wide">${table({
      caption: 'Jobs of this workflow',
      columns: [
        {
          key: 'vertex',
          label: 'vertex',
          width: 'm',
          cell: (j: Job) => j.vertex ?? none,
          value: (j: Job) => j.vertex,
        },
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
