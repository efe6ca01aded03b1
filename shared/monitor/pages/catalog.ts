import type { Dag } from '../../core/dag/dag.ts';
import type { Data, Trigger } from '../../core/data/data.ts';
import type { TriggerRule } from '../../core/data/rule.ts';
import type { Site } from '../../core/site/site.ts';
import { badge, type Column, kv, table, whenAgo, whenShort } from '../components.ts';
import { dagSvg } from '../dag-svg.ts';
import { duration } from '../format.ts';
import { type Html, html, url } from '../html.ts';
import { layout, type PageCtx } from '../layout.ts';
import type { LivePilot } from '../snapshot.ts';
import { jobLink } from './job-columns.ts';

/**
 * Read-only pages of what operators set up: sites, DAG templates (drawn), datatypes and trigger
 * rules with what they recently did. Pure functions of their data, like every page.
 */

const none = html`<span class="muted">—</span>`;
const envText = (env: Record<string, string> | undefined) =>
  Object.entries(env ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
const seconds = (s: number | undefined) =>
  s === undefined ? none : html`${s} s <span class="muted">(${duration(s * 1000)})</span>`;

// ---- sites ---------------------------------------------------------------------------------

type SiteRow = Site & { live: number; busy: number };

export function sitesPage(d: { sites: Site[]; pilots: LivePilot[] }, ctx: PageCtx): string {
  const rows: SiteRow[] = d.sites.map((s) => {
    const mine = d.pilots.filter((p) => p.site === s.name);
    return {
      ...s,
      live: mine.length,
      busy: mine.filter((p) => p.state === 'dispatched' || p.state === 'running').length,
    };
  });
  const columns: Column<SiteRow>[] = [
    {
      key: 'name',
      label: 'site',
      width: 'l',
      cell: (s) => html`<a href="#site-${s.name}">${s.name}</a>`,
      value: (s) => s.name,
    },
    {
      key: 'live',
      label: 'live pilots',
      width: 'm',
      numeric: true,
      cell: (s) =>
        html`<a href="${url('/monitor/pilots', { site: s.name })}">${s.live}</a>${s.pilots !== undefined ? html`<span class="muted"> / ${s.pilots}</span>` : ''}`,
      value: (s) => s.live,
      title: (s) => `${s.live} live (${s.busy} busy) of ${s.pilots ?? '?'} nominal`,
    },
    { key: 'busy', label: 'busy', width: 's', numeric: true, cell: (s) => s.busy, value: (s) => s.busy },
    {
      key: 'cycles',
      label: 'cycles',
      width: 's',
      numeric: true,
      cell: (s) => s.pilotcycles ?? none,
      value: (s) => s.pilotcycles,
    },
    {
      key: 'period',
      label: 'period',
      width: 's',
      numeric: true,
      cell: (s) => (s.pilotperiod === undefined ? none : `${s.pilotperiod} s`),
      value: (s) => s.pilotperiod,
    },
    {
      key: 'beat',
      label: 'beat',
      width: 's',
      numeric: true,
      cell: (s) => (s.pilotbeat === undefined ? none : `${s.pilotbeat} s`),
      value: (s) => s.pilotbeat,
    },
    {
      key: 'life',
      label: 'lifetime',
      width: 'm',
      numeric: true,
      cell: (s) => (s.pilotlife === undefined ? none : duration(s.pilotlife * 1000)),
      value: (s) => s.pilotlife,
    },
    { key: 'server', label: 'server', width: 'xl', cell: (s) => s.server ?? none, value: (s) => s.server },
    {
      key: 'env',
      label: 'env',
      cell: (s) => html`<code>${envText(s.env)}</code>`,
      value: (s) => envText(s.env),
    },
  ];
  const unknown = [
    ...new Set(
      d.pilots.map((p) => p.site).filter((x): x is string => !!x && !d.sites.some((s) => s.name === x)),
    ),
  ];
  return layout({
    title: 'Sites',
    nav: 'sites',
    ctx,
    body: html`<h1>Sites</h1>
<p class="muted">Defaults for the pilots that declare a site (<code>p3s-pilot --site NAME</code>): set with <code>p3s site set FILE</code> (the original site JSON).</p>
${table({ caption: `${rows.length} site${rows.length === 1 ? '' : 's'}`, columns, rows, path: '/monitor/sites', params: {}, empty: 'No sites: p3s site set examples/sites/local.json' })}
${unknown.length ? html`<p class="notice">Live pilots declare sites that are not set: ${unknown.map((x) => html`<a href="${url('/monitor/pilots', { site: x })}">${x}</a> `)}</p>` : ''}
<div class="grid">${rows.map(
      (s) =>
        html`<section class="card" id="site-${s.name}"><h2>${s.name}</h2>${kv([
          ['server', s.server],
          ['nominal pilots', s.pilots],
          ['live pilots', html`${s.live} (${s.busy} busy)`],
          ['pilot cycles', s.pilotcycles === 0 ? '0 (forever)' : s.pilotcycles],
          ['poll period', seconds(s.pilotperiod)],
          ['heartbeat', seconds(s.pilotbeat)],
          ['lifetime', seconds(s.pilotlife)],
          ['updated', whenAgo(s.updatedAt, ctx.nowMs)],
        ])}${
          Object.keys(s.env ?? {}).length
            ? html`<table class="env"><caption>Environment of its pilots and jobs</caption><tbody>${Object.entries(
                s.env ?? {},
              ).map(
                ([k, v]) => html`<tr><th scope="row"><code>${k}</code></th><td><code>${v}</code></td></tr>`,
              )}</tbody></table>`
            : ''
        }</section>`,
    )}</div>`,
  });
}

// ---- DAG templates -------------------------------------------------------------------------

export interface DagRow {
  name: string;
  description: string;
  nvertices: number;
  nedges: number;
  roots: string[];
  user?: string;
  updatedAt: string;
}

export function dagsPage(d: { dags: DagRow[] }, ctx: PageCtx): string {
  const columns: Column<DagRow>[] = [
    {
      key: 'name',
      label: 'DAG',
      width: 'l',
      cell: (x) => html`<a href="/monitor/dags/${encodeURIComponent(x.name)}">${x.name}</a>`,
      value: (x) => x.name,
    },
    {
      key: 'vertices',
      label: 'jobs',
      width: 'xs',
      numeric: true,
      cell: (x) => x.nvertices,
      value: (x) => x.nvertices,
    },
    {
      key: 'edges',
      label: 'files',
      width: 'xs',
      numeric: true,
      cell: (x) => x.nedges,
      value: (x) => x.nedges,
    },
    {
      key: 'roots',
      label: 'roots',
      width: 'l',
      cell: (x) => x.roots.join(', '),
      value: (x) => x.roots.join(', '),
    },
    {
      key: 'description',
      label: 'description',
      cell: (x) => x.description || none,
      value: (x) => x.description,
    },
    { key: 'user', label: 'user', width: 's', cell: (x) => x.user ?? none, value: (x) => x.user },
    {
      key: 'updated',
      label: 'updated',
      width: 't',
      cell: (x) => whenShort(x.updatedAt),
      value: (x) => x.updatedAt,
    },
  ];
  return layout({
    title: 'DAGs',
    nav: 'dags',
    ctx,
    body: html`<h1>DAG templates</h1>
<p class="muted">Workflow templates: vertices are jobs, edges are files. Add one with <code>p3s dag add FILE.graphml</code>.</p>
${table({ caption: `${d.dags.length} DAG${d.dags.length === 1 ? '' : 's'}`, columns, rows: d.dags, path: '/monitor/dags', params: {}, empty: 'No DAGs yet.' })}`,
  });
}

export function dagPage(d: { dag: DagRow & Pick<Dag, 'vertices' | 'edges'> }, ctx: PageCtx): string {
  const g = d.dag;
  const vertices = g.vertices.map((v) => ({ name: v.name, note: v.jobtype }));
  const edges = g.edges.map((e) => ({ source: e.source, target: e.target, label: e.datatag || e.name }));
  type V = (typeof g.vertices)[number];
  type E = (typeof g.edges)[number];
  return layout({
    title: `DAG ${g.name}`,
    nav: 'dags',
    ctx,
    body: html`<h1>DAG <span class="dag-name">${g.name}</span></h1>
<div class="grid dash">
<section class="card"><h2>Fields</h2>${kv([
      ['name', g.name],
      ['description', g.description],
      ['jobs (vertices)', g.nvertices],
      ['files (edges)', g.nedges],
      ['roots', g.roots.join(', ')],
      ['user', g.user],
      ['updated', whenAgo(g.updatedAt, ctx.nowMs)],
      [
        'workflows',
        html`<a href="${url('/monitor/workflows', {})}">workflows</a> <span class="muted">(each keeps its own copy of the DAG)</span>`,
      ],
    ])}</section>
<section class="card span2"><h2>Graph</h2><div class="dagbox">${dagSvg({ vertices, edges }, { id: 'dag', title: `DAG ${g.name}` })}</div></section>
<section class="card wide">${table({
      caption: 'Jobs (vertices): noop vertices run nothing and pass their files on',
      columns: [
        { key: 'name', label: 'vertex', width: 'l', cell: (v: V) => v.name, value: (v: V) => v.name },
        { key: 'jobtype', label: 'type', width: 'm', cell: (v: V) => v.jobtype, value: (v: V) => v.jobtype },
        {
          key: 'priority',
          label: 'pri.',
          width: 'xs',
          numeric: true,
          cell: (v: V) => v.priority ?? none,
          value: (v: V) => v.priority,
        },
        {
          key: 'timelimit',
          label: 'time limit',
          width: 'm',
          numeric: true,
          cell: (v: V) => (v.timelimit ? `${v.timelimit} s` : none),
          value: (v: V) => v.timelimit,
        },
        {
          key: 'payload',
          label: 'payload',
          cell: (v: V) => (v.payload ? html`<code>${v.payload}</code>` : none),
          value: (v: V) => v.payload,
        },
        {
          key: 'env',
          label: 'env',
          width: 'xl',
          cell: (v: V) => html`<code>${envText(v.env)}</code>`,
          value: (v: V) => envText(v.env),
        },
      ],
      rows: g.vertices,
      path: `/monitor/dags/${encodeURIComponent(g.name)}`,
      params: {},
    })}</section>
<section class="card wide">${table({
      caption: 'Files (edges): each workflow names its own (fileinfo), by default <uuid><ext> in the dirpath',
      columns: [
        {
          key: 'edge',
          label: 'edge',
          width: 'xl',
          cell: (e: E) => `${e.source} → ${e.target}`,
          value: (e: E) => `${e.source} → ${e.target}`,
        },
        {
          key: 'datatag',
          label: 'env',
          width: 'l',
          cell: (e: E) => html`<code>${e.datatag}</code>`,
          value: (e: E) => e.datatag,
        },
        {
          key: 'datatype',
          label: 'datatype',
          width: 'm',
          cell: (e: E) => e.datatype,
          value: (e: E) => e.datatype,
        },
        { key: 'name', label: 'name', width: 'l', cell: (e: E) => e.name || none, value: (e: E) => e.name },
        {
          key: 'dirpath',
          label: 'dirpath',
          cell: (e: E) => (e.dirpath ? html`<code>${e.dirpath}</code>` : none),
          value: (e: E) => e.dirpath,
        },
        {
          key: 'comment',
          label: 'comment',
          width: 'xl',
          cell: (e: E) => e.comment || none,
          value: (e: E) => e.comment,
        },
      ],
      rows: g.edges,
      path: `/monitor/dags/${encodeURIComponent(g.name)}`,
      params: {},
      empty: 'No edges.',
    })}</section>
</div>`,
  });
}

// ---- datatypes -----------------------------------------------------------------------------

export interface DatatypeRow {
  name: string;
  ext: string;
  comment?: string;
  user?: string;
  updatedAt?: string;
}

export function datatypesPage(d: { datatypes: DatatypeRow[] }, ctx: PageCtx): string {
  const columns: Column<DatatypeRow>[] = [
    {
      key: 'name',
      label: 'datatype',
      width: 'l',
      cell: (t) => html`<a href="${url('/monitor/data', { datatype: t.name })}">${t.name}</a>`,
      value: (t) => t.name,
    },
    {
      key: 'ext',
      label: 'extension',
      width: 'm',
      cell: (t) => html`<code>${t.ext}</code>`,
      value: (t) => t.ext,
    },
    { key: 'comment', label: 'comment', cell: (t) => t.comment || none, value: (t) => t.comment },
    { key: 'user', label: 'user', width: 's', cell: (t) => t.user ?? none, value: (t) => t.user },
    {
      key: 'updated',
      label: 'updated',
      width: 't',
      cell: (t) => whenShort(t.updatedAt),
      value: (t) => t.updatedAt,
    },
  ];
  return layout({
    title: 'Datatypes',
    nav: 'datatypes',
    ctx,
    body: html`<h1>Datatypes</h1>
<p class="muted">A file's datatype comes from its extension unless it is announced with one; DAG edges and rules name datatypes.</p>
${table({ caption: `${d.datatypes.length} datatype${d.datatypes.length === 1 ? '' : 's'}`, columns, rows: d.datatypes, path: '/monitor/datatypes', params: {}, empty: 'No datatypes: p3s datatype add examples/datatypes/TXT.json' })}`,
  });
}

// ---- trigger rules -------------------------------------------------------------------------

/** One file a rule acted on (or chose not to), from the newest registered files. */
export interface RuleHit {
  file: Data;
  trigger: Trigger;
}

/** The newest files' triggers, by rule. */
export function hitsByRule(files: readonly Data[]): Map<string, RuleHit[]> {
  const out = new Map<string, RuleHit[]>();
  for (const f of files)
    for (const t of f.triggers ?? []) {
      const l = out.get(t.rule) ?? [];
      l.push({ file: f, trigger: t });
      out.set(t.rule, l);
    }
  return out;
}

function matchText(r: TriggerRule): string {
  return Object.entries(r.match ?? {})
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : String(v)}`)
    .join(' ');
}

function actionText(r: TriggerRule): string {
  return 'workflow' in r.action
    ? `workflow of DAG ${r.action.workflow.dag}`
    : `${r.action.jobs.length} job${r.action.jobs.length === 1 ? '' : 's'} (${[...new Set(r.action.jobs.map((j) => j.jobtype))].join(', ')})`;
}

const outcomeCounts = (hits: readonly RuleHit[]) => {
  const c: Record<string, number> = {};
  for (const h of hits) c[h.trigger.outcome] = (c[h.trigger.outcome] ?? 0) + 1;
  return Object.entries(c)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
};

export interface HitsWindow {
  /** How many of the newest files were looked at, and since when. */
  files: number;
  since: string;
}

export function rulesPage(
  d: { rules: TriggerRule[]; hits: Map<string, RuleHit[]>; window: HitsWindow },
  ctx: PageCtx,
): string {
  type R = TriggerRule;
  const hits = (r: R) => d.hits.get(r.name) ?? [];
  const columns: Column<R>[] = [
    {
      key: 'name',
      label: 'rule',
      width: 'l',
      cell: (r) => html`<a href="/monitor/rules/${encodeURIComponent(r.name)}">${r.name}</a>`,
      value: (r) => r.name,
    },
    {
      key: 'enabled',
      label: 'enabled',
      width: 's',
      cell: (r) => (r.enabled ? 'yes' : html`<strong>no</strong>`),
      value: (r) => (r.enabled ? 'yes' : 'no'),
    },
    { key: 'match', label: 'match', cell: (r) => html`<code>${matchText(r)}</code>`, value: matchText },
    { key: 'action', label: 'action', width: 'xl', cell: (r) => actionText(r), value: actionText },
    {
      key: 'sampling',
      label: 'sampling',
      width: 's',
      numeric: true,
      cell: (r) => r.sampling,
      value: (r) => r.sampling,
    },
    {
      key: 'limit',
      label: 'limit',
      width: 'm',
      cell: (r) => (r.limit ? `${r.limit.files} / ${duration(r.limit.window * 1000)}` : none),
      value: (r) => r.limit?.files,
    },
    {
      key: 'hits',
      label: 'recent hits',
      width: 'xl',
      cell: (r) =>
        hits(r).length
          ? html`<a href="/monitor/rules/${encodeURIComponent(r.name)}#hits">${outcomeCounts(hits(r))}</a>`
          : html`<span class="muted">none</span>`,
      value: (r) => hits(r).length,
      title: (r) => outcomeCounts(hits(r)) || 'no hits',
    },
    {
      key: 'last',
      label: 'last hit',
      width: 't',
      cell: (r) => whenShort(hits(r)[0]?.file.registeredAt),
      value: (r) => hits(r)[0]?.file.registeredAt,
    },
  ];
  return layout({
    title: 'Rules',
    nav: 'rules',
    ctx,
    body: html`<h1>Trigger rules</h1>
<p class="muted">What an arriving file creates. Recent hits: what each rule did for the newest ${d.window.files} registered files (since ${whenAgo(d.window.since, ctx.nowMs)}).</p>
${table({ caption: `${d.rules.length} rule${d.rules.length === 1 ? '' : 's'}`, columns, rows: d.rules, path: '/monitor/rules', params: {}, empty: 'No rules: p3s rule add examples/rules/hitcount.json' })}`,
  });
}

export function rulePage(
  d: { rule: TriggerRule; hits: RuleHit[]; window: HitsWindow },
  ctx: PageCtx,
): string {
  const r = d.rule;
  const made = (h: RuleHit): Html => {
    const t = h.trigger;
    if (t.workflowId)
      return html`<a href="/monitor/workflows/${encodeURIComponent(t.workflowId)}">workflow</a>`;
    if (t.jobs?.length)
      return html`${t.jobs.slice(0, 3).map((j) => html`${jobLink(j)} `)}${t.jobs.length > 3 ? html`<span class="muted">+${t.jobs.length - 3}</span>` : ''}`;
    return none;
  };
  return layout({
    title: `Rule ${r.name}`,
    nav: 'rules',
    ctx,
    body: html`<h1>Rule <span class="rule-name">${r.name}</span>${r.enabled ? '' : html` <span class="badge s-stopped">disabled</span>`}</h1>
<div class="grid dash">
<section class="card"><h2>Fields</h2>${kv([
      ['name', r.name],
      ['enabled', r.enabled ? 'yes' : 'no'],
      ['comment', r.comment],
      ['match', html`<code>${matchText(r)}</code>`],
      ['action', actionText(r)],
      ['sampling', r.sampling],
      ['limit', r.limit ? `${r.limit.files} files per ${duration(r.limit.window * 1000)}` : undefined],
      ['dedupe', r.dedupe],
      ['user', r.user],
      ['updated', whenAgo(r.updatedAt, ctx.nowMs)],
    ])}</section>
<section class="card span2"><h2>Action</h2><pre class="json">${JSON.stringify(r.action, null, 2)}</pre></section>
<section class="card wide" id="hits">${table({
      caption: html`Recent hits: ${d.hits.length} of the newest ${d.window.files} registered files${d.hits.length ? html` (${outcomeCounts(d.hits)})` : ''}`,
      columns: [
        {
          key: 'file',
          label: 'file',
          width: 'xl',
          cell: (h: RuleHit) =>
            html`<a href="${url('/monitor/data', { name: h.file.name })}">${h.file.name}</a>`,
          value: (h: RuleHit) => h.file.name,
        },
        {
          key: 'location',
          label: 'location',
          cell: (h: RuleHit) => html`<code>${h.file.location}</code>`,
          value: (h: RuleHit) => h.file.location,
        },
        {
          key: 'source',
          label: 'source',
          width: 's',
          cell: (h: RuleHit) => h.file.source,
          value: (h: RuleHit) => h.file.source,
        },
        {
          key: 'registered',
          label: 'registered',
          width: 't',
          cell: (h: RuleHit) => whenShort(h.file.registeredAt),
          value: (h: RuleHit) => h.file.registeredAt,
        },
        {
          key: 'outcome',
          label: 'outcome',
          width: 'm',
          cell: (h: RuleHit) => badge(h.trigger.outcome),
          value: (h: RuleHit) => h.trigger.outcome,
          title: (h: RuleHit) => h.trigger.message,
        },
        { key: 'made', label: 'made', width: 'l', cell: made },
      ],
      rows: d.hits,
      path: `/monitor/rules/${encodeURIComponent(r.name)}`,
      params: {},
      empty: 'No hits among the newest files.',
    })}</section>
</div>`,
  });
}
