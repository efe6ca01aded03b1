import { DataState } from '../../core/data/data.ts';
import { type Alert, BAD_STATES, RECENT_MIN } from '../alerts.ts';
import { sparkline, throughputSvg } from '../charts.ts';
import { ago, badge, whenAgo } from '../components.ts';
import { duration, shortId } from '../format.ts';
import { type Child, type Html, html, url } from '../html.ts';
import { layout, type PageCtx } from '../layout.ts';
import { REFRESH_CHOICES } from '../queries.ts';
import type { Snapshot } from '../snapshot.ts';
import { JOB_STATES, PILOT_STATES, WORKFLOW_STATES } from '../states.ts';

/**
 * The dashboard: each part is rendered alone too, so the live refresh swaps in server-rendered
 * (and therefore escaped) fragments instead of building markup in the browser.
 */

function alertsPart(list: readonly Alert[]): Html {
  const crit = list.filter((a) => a.level === 'critical').length;
  return html`<h2 id="h-alerts">Alerts ${
    list.length
      ? html`<span class="muted">(${list.length}${crit ? html`, <strong class="crit">${crit} critical</strong>` : ''})</span>`
      : ''
  }</h2>
<ul class="alerts">${
    list.length
      ? list.map(
          (a) =>
            html`<li class="${a.level}" data-code="${a.code}"${a.subject ? html` data-subject="${a.subject}"` : ''}><strong>${a.level === 'critical' ? 'Critical' : 'Warning'}:</strong> ${a.text}${a.href ? html` <a href="${a.href}">Show&nbsp;»</a>` : ''}</li>`,
        )
      : html`<li class="ok">No alerts: pilots are live, jobs start in time and finish, data keeps coming.</li>`
  }</ul>`;
}

/** The headline numbers with their last hour as sparklines: what a shifter reads first. */
function statusPart(s: Snapshot): Html {
  const sum = s.summary;
  const live = s.livePilots;
  const busy = live.shown.filter((p) => p.state === 'dispatched' || p.state === 'running').length;
  const queued = sum.jobtypes.reduce((a, t) => a + t.queued, 0);
  const inFlight = sum.jobtypes.reduce((a, t) => a + t.inFlight, 0);
  const recent = (states: readonly string[]) =>
    sum.jobtypes.reduce((a, t) => a + states.reduce((x, st) => x + (t.recent?.[st] ?? 0), 0), 0);
  const bad = recent(BAD_STATES);
  const finished = recent(['finished']);
  const l5 = sum.latency.last5min;
  const last5 = sum.throughput.slice(-5);
  const perMin = last5.reduce((a, r) => a + r.started, 0) / Math.max(1, last5.length);
  const alerted = (code: string) => s.alerts.some((a) => a.code === code);
  const tile = (key: string, label: string, value: Child, foot: Child, cls = '') =>
    html`<div class="tile${cls}" data-tile="${key}"><div class="label">${label}</div><div class="value">${value}</div><div class="foot">${foot}</div></div>`;
  return html`<h2 class="sr-only">Status</h2><div class="tiles">
${tile(
  'pilots',
  'Live pilots',
  html`<a href="/monitor/pilots">${live.total}</a>`,
  html`${busy} busy · ${live.total - busy} idle`,
  live.total === 0 ? ' bad' : '',
)}
${tile('queued', 'Queued', html`<a href="${url('/monitor/jobs', { state: 'defined' })}">${queued}</a>`, html`${inFlight} in flight`)}
${tile(
  'failed',
  `Failed, last ${RECENT_MIN} min`,
  bad
    ? html`<a href="${url('/monitor/jobs', { state: [...BAD_STATES], window: `${RECENT_MIN}m` })}">${bad}</a>`
    : '0',
  html`${finished} finished`,
  bad ? ' bad' : '',
)}
${tile(
  'latency',
  'Dispatch latency, 5 min',
  html`${ms(l5.p50Ms)} <span class="muted small">p50</span>`,
  html`${sparkline(
    sum.latencyPerMinute.map((m) => m.p50Ms),
    { id: 'spark-latency', label: 'Dispatch latency p50 per minute', unit: ' ms' },
  )}<span class="small">p95 ${ms(l5.p95Ms)}</span>`,
  alerted('latency') ? ' warn' : '',
)}
${tile(
  'throughput',
  'Started per minute',
  perMin.toFixed(1),
  html`${sparkline(
    sum.throughput.map((m) => m.started),
    { id: 'spark-started', label: 'Jobs started per minute' },
  )}<span class="small">last 5 min</span>`,
)}
</div>`;
}

function countList(
  title: string,
  id: string,
  counts: Record<string, number>,
  states: readonly string[],
  link?: (state: string) => string,
): Html {
  const known = new Set(states);
  const all = [
    ...states,
    ...Object.keys(counts)
      .filter((s) => !known.has(s))
      .sort(),
  ];
  const total = all.reduce((a, s) => a + Math.max(0, Number(counts[s] ?? 0)), 0);
  return html`<div data-counts="${id}"><h3>${title} <span class="muted">(${total})</span></h3><ul class="counts">${all.map(
    (s) => {
      const n = Math.max(0, Number(counts[s] ?? 0));
      const label = html`${badge(s)} <span class="n" data-state="${s}">${n}</span>`;
      return html`<li${n === 0 ? html` class="muted"` : ''}>${link && n > 0 ? html`<a href="${link(s)}">${label}</a>` : label}</li>`;
    },
  )}</ul></div>`;
}

function countsPart(s: Snapshot): Html {
  const sum = s.summary;
  return html`<h2>Counts by state</h2>
${countList('Jobs', 'jobs', sum.jobs, JOB_STATES, (st) => url('/monitor/jobs', { state: st }))}
${countList('Pilots', 'pilots', sum.pilots, PILOT_STATES, (st) => url('/monitor/pilots', { state: st }))}
${countList('Workflows', 'workflows', sum.workflows, WORKFLOW_STATES, (st) => url('/monitor/workflows', { state: st }))}
${countList('Data', 'data', sum.data, DataState.options, (st) => url('/monitor/data', { state: st }))}`;
}

/** Types that need a look first (recent failures or stale jobs, or at their cap), then by name. */
function attention(t: Snapshot['summary']['jobtypes'][number]): number {
  const bad = BAD_STATES.reduce((a, st) => a + (t.recent?.[st] ?? 0), 0) + (t.recent?.stale ?? 0);
  return bad > 0 ? 0 : t.limit !== null && t.inFlight >= t.limit ? 1 : 2;
}

function jobtypesPart(s: Snapshot): Html {
  const rows = [...s.summary.jobtypes].sort(
    (a, b) => attention(a) - attention(b) || a.name.localeCompare(b.name),
  );
  const w = `${RECENT_MIN}m`;
  return html`<h2>Job types <span class="muted small">(ended: last ${RECENT_MIN} min)</span></h2>
<table class="fit jobtypes">
<colgroup><col><col class="w-s"><col class="w-s"><col class="w-s"><col class="w-s"><col class="w-s"><col class="w-m"></colgroup>
<thead><tr><th scope="col">type</th><th scope="col" class="num">queued</th><th scope="col" class="num" title="dispatched or running / the cap">in flight</th><th scope="col" class="num">finished</th><th scope="col" class="num">failed</th><th scope="col" class="num">stale</th><th scope="col" class="num">deadline</th></tr></thead>
<tbody>${
    rows.length
      ? rows.map((t) => {
          const atCap = t.limit !== null && t.inFlight >= t.limit;
          const bad = BAD_STATES.filter((st) => (t.recent?.[st] ?? 0) > 0);
          const nBad = bad.reduce((a, st) => a + (t.recent?.[st] ?? 0), 0);
          const stale = t.recent?.stale ?? 0;
          return html`<tr${atCap ? html` class="atcap"` : ''} data-jobtype="${t.name}"><th scope="row" class="clip" title="${t.name}"><a href="${url('/monitor/jobs', { jobtype: t.name })}">${t.name}</a></th>
<td class="num"><a href="${url('/monitor/jobs', { state: 'defined', jobtype: t.name })}">${t.queued}</a></td>
<td class="num">${t.inFlight}${t.limit !== null ? html`<span class="muted"> / ${t.limit}</span>` : ''}${atCap ? html` <span class="badge s-running">cap</span>` : ''}</td>
<td class="num" data-col="finished">${t.recent?.finished ?? 0}</td>
<td class="num${nBad ? ' bad' : ''}" data-col="failed" title="${bad.map((st) => `${t.recent?.[st]} ${st}`).join(', ') || 'none'}">${
            nBad
              ? html`<a href="${url('/monitor/jobs', { state: bad, jobtype: t.name, window: w })}">${nBad}</a>`
              : '0'
          }</td>
<td class="num${stale ? ' bad' : ''}" data-col="stale">${stale ? html`<a href="${url('/monitor/jobs', { state: 'stale', jobtype: t.name, window: w })}">${stale}</a>` : '0'}</td>
<td class="num">${t.deadline === null ? html`<span class="muted">—</span>` : duration(t.deadline * 1000)}</td></tr>`;
        })
      : html`<tr><td colspan="7" class="muted">No job types yet: they appear when a job is submitted or a cap is set.</td></tr>`
  }</tbody></table>`;
}

const ms = (v: number | null) => (v === null ? html`<span class="muted">—</span>` : html`≤ ${duration(v)}`);

function latencyPart(s: Snapshot): Html {
  const l = s.summary.latency;
  return html`<h2>Dispatch latency</h2>
<p class="muted">From a job being queued to its payload starting; percentiles to the bucket.</p>
<table><thead><tr><th scope="col">window</th><th scope="col" class="num">started</th><th scope="col" class="num">p50</th><th scope="col" class="num">p95</th></tr></thead>
<tbody>
<tr data-window="5"><th scope="row">last 5 min</th><td class="num">${l.last5min.jobs}</td><td class="num">${ms(l.last5min.p50Ms)}</td><td class="num">${ms(l.last5min.p95Ms)}</td></tr>
<tr data-window="60"><th scope="row">last 60 min</th><td class="num">${l.last60min.jobs}</td><td class="num">${ms(l.last60min.p50Ms)}</td><td class="num">${ms(l.last60min.p95Ms)}</td></tr>
</tbody></table>`;
}

function throughputPart(s: Snapshot): Html {
  const t = s.summary.throughput;
  const last = t.slice(-5);
  const perMin = (k: 'started' | 'ended') =>
    (last.reduce((a, r) => a + r[k], 0) / Math.max(1, last.length)).toFixed(1);
  return html`<h2>Throughput</h2>
<p>Last 5 min: <strong>${perMin('started')}</strong> started/min, <strong>${perMin('ended')}</strong> ended/min. Last hour: ${s.lastHour.stale} stale, ${s.lastHour.dropped} dropped.</p>
${throughputSvg(t, { id: 'tp' })}
<p class="muted">Bars: jobs ended per minute (green finished, red failed, grey other). Line: jobs started.</p>`;
}

function pilotsPart(s: Snapshot, nowMs: number): Html {
  const { total, shown } = s.livePilots;
  return html`<h2>Live pilots <span class="muted">(${total})</span></h2>
${total > shown.length ? html`<p class="muted">Showing the ${shown.length} with the oldest heartbeat; <a href="/monitor/pilots">all pilots</a>.</p>` : ''}
<table><thead><tr><th scope="col">pilot</th><th scope="col">host</th><th scope="col">site</th><th scope="col">state</th><th scope="col">job</th><th scope="col" class="num">jobs done</th><th scope="col">last heartbeat</th></tr></thead>
<tbody>${
    shown.length
      ? shown.map(
          (
            p,
          ) => html`<tr data-pilot="${p.id}"><td><a class="mono" href="/monitor/pilots/${encodeURIComponent(p.id)}" title="${p.id}">${shortId(p.id)}</a></td>
<td>${p.host}</td><td>${p.site ?? html`<span class="muted">—</span>`}</td><td>${badge(p.state)}</td>
<td>${p.jobId ? html`<a class="mono" href="/monitor/jobs/${encodeURIComponent(p.jobId)}" title="${p.jobId}">${shortId(p.jobId)}</a>` : html`<span class="muted">—</span>`}</td>
<td class="num">${p.jobcount}</td><td>${ago(p.lastSeenAt, nowMs)}</td></tr>`,
        )
      : html`<tr><td colspan="7" class="muted">No live pilots.</td></tr>`
  }</tbody></table>`;
}

function parts(s: Snapshot, nowMs: number): Record<string, Html> {
  return {
    status: statusPart(s),
    alerts: alertsPart(s.alerts),
    counts: countsPart(s),
    jobtypes: jobtypesPart(s),
    latency: latencyPart(s),
    throughput: throughputPart(s),
    pilots: pilotsPart(s, nowMs),
  };
}

/** The fragments the live refresh replaces, by `data-part` name. */
export function dashboardParts(s: Snapshot, nowMs: number): Record<string, string> {
  return Object.fromEntries(Object.entries(parts(s, nowMs)).map(([k, v]) => [k, v.value]));
}

export function dashboardPage(s: Snapshot, ctx: PageCtx, refresh: number): string {
  const p = parts(s, ctx.nowMs);
  const part = (name: string, cls = 'card') =>
    html`<section class="${cls}" data-part="${name}"${name === 'alerts' ? html` aria-live="polite"` : ''}>${p[name]}</section>`;
  return layout({
    title: 'Dashboard',
    nav: 'dashboard',
    ctx,
    main: html` data-live="/monitor/live.json" data-refresh="${refresh}" data-trend="${s.trend}" data-generated="${s.generatedAt}"`,
    body: html`<div class="pagehead"><h1>Dashboard</h1>
<form class="filters inline" method="get" action="/" data-clean>
<p id="live-status" class="status">Updated ${whenAgo(s.generatedAt, ctx.nowMs)}${refresh ? html`, every ${refresh} s.` : html`; live refresh is off.`}</p>
<label>Refresh <select name="refresh" data-autosubmit>${REFRESH_CHOICES.map(
      (n) =>
        html`<option value="${n}"${n === refresh ? html` selected` : ''}>${n === 0 ? 'never' : `${n} s`}</option>`,
    )}</select></label>
<noscript><button type="submit">Apply</button></noscript>
</form></div>
${part('status', 'strip')}
<div class="dash-top">
${part('alerts', 'card')}
${part('jobtypes', 'card')}
</div>
<div class="grid dash">
${part('throughput', 'card span2')}
${part('latency')}
${part('counts', 'card span2')}
${part('pilots', 'card wide')}
</div>`,
  });
}
