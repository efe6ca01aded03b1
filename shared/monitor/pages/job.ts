import type { Job } from '../../core/job/job.ts';
import type { Pilot } from '../../core/pilot/pilot.ts';
import { ago, badge, kv, when, whenAgo } from '../components.ts';
import { between, duration } from '../format.ts';
import { type Child, type Html, html, url } from '../html.ts';
import { layout, type PageCtx } from '../layout.ts';
import { pilotLink } from './job-columns.ts';

/** Fields shown in their own rows; anything else a job carries is listed under "Other fields". */
const KNOWN = new Set([
  'id',
  'name',
  'jobtype',
  'state',
  'priority',
  'timelimit',
  'payload',
  'env',
  'held',
  'site',
  'user',
  'pilotId',
  'host',
  'exitCode',
  'signal',
  'message',
  'stdoutTail',
  'stderrTail',
  'killRequested',
  'workflowId',
  'vertex',
  'inputFile',
  'createdAt',
  'definedAt',
  'dispatchedAt',
  'startedAt',
  'payloadStartedAt',
  'endedAt',
  'stateAt',
  'tailAt',
]);

interface Step {
  label: string;
  at: string;
}

/** The job's life from its timestamps, in time order, with the wait between steps. */
export function timeline(j: Job): Step[] {
  const steps: (Step | undefined)[] = [
    {
      label:
        j.definedAt === j.createdAt
          ? 'created and queued (defined)'
          : j.workflowId
            ? 'created (template: waits for its parents)'
            : 'created',
      at: j.createdAt,
    },
    j.definedAt && j.definedAt !== j.createdAt ? { label: 'queued (defined)', at: j.definedAt } : undefined,
    j.dispatchedAt
      ? { label: `dispatched to a pilot${j.host ? ` on ${j.host}` : ''}`, at: j.dispatchedAt }
      : undefined,
    j.startedAt ? { label: 'started (pilot reported jobstart)', at: j.startedAt } : undefined,
    j.payloadStartedAt && j.payloadStartedAt !== j.startedAt
      ? { label: 'payload process started', at: j.payloadStartedAt }
      : undefined,
    j.endedAt ? { label: `ended: ${j.state}`, at: j.endedAt } : undefined,
  ];
  const out = steps.filter((s): s is Step => Boolean(s));
  // A state reached without its own timestamp (stale, dropped, cancelled…) is dated by stateAt.
  const last = out[out.length - 1];
  if (!j.endedAt && j.stateAt && last && j.stateAt > last.at)
    out.push({ label: `now ${j.state}`, at: j.stateAt });
  return out.sort((a, b) => a.at.localeCompare(b.at));
}

/** Seconds between reloads of a running job's page (its output tails come with heartbeats). */
const RELOAD_RUNNING_S = 5;

function tail(stream: 'stdout' | 'stderr', j: Job, nowMs: number): Html {
  const text = stream === 'stdout' ? j.stdoutTail : j.stderrTail;
  const live = j.state === 'running';
  const tailAt = j.tailAt;
  const title = live
    ? html`${stream} <span class="muted">(live tail${tailAt ? html`, as of ${ago(tailAt, nowMs)}` : ''})</span>`
    : html`${stream} (tail)`;
  const empty = live
    ? 'Nothing yet: the pilot sends the last 2 KiB with its heartbeats once the payload writes some.'
    : 'Nothing reported.';
  return html`<section class="card wide" data-tail="${stream}"><h2>${title}</h2>${
    text ? html`<pre class="tail">${text}</pre>` : html`<p class="muted">${empty}</p>`
  }</section>`;
}

const none = html`<span class="muted">—</span>`;

export function jobPage(d: { job: Job; pilot?: Pilot; pilotGone?: boolean }, ctx: PageCtx): string {
  const j = d.job;
  const steps = timeline(j);
  const wait = between(j.definedAt, j.startedAt);
  const run = between(j.startedAt, j.endedAt);
  const fields: [string, Child][] = [
    ['id', html`<span class="mono">${j.id}</span>`],
    ['name', j.name],
    ['state', html`${badge(j.state)} <span class="muted">since</span> ${whenAgo(j.stateAt, ctx.nowMs)}`],
    ['job type', html`<a href="${url('/monitor/jobs', { jobtype: j.jobtype })}">${j.jobtype}</a>`],
    ['payload', html`<code>${j.payload}</code>`],
    ['priority', j.priority],
    ['time limit', `${j.timelimit} s (${duration(j.timelimit * 1000)})`],
    ['held', j.held ? 'yes (not queued until released)' : undefined],
    ['user', j.user ? html`<a href="${url('/monitor/jobs', { user: j.user })}">${j.user}</a>` : undefined],
    ['site', j.site],
    ['input file', j.inputFile ? html`<code>${j.inputFile}</code>` : undefined],
    ['pilot', j.pilotId ? pilotLink(j.pilotId) : undefined],
    ['host', j.host],
    ['exit code', j.exitCode ?? undefined],
    ['signal', j.signal],
    ['message', j.message],
    ['kill requested', j.killRequested ? 'yes' : undefined],
    [
      'workflow',
      j.workflowId
        ? html`<a href="/monitor/workflows/${encodeURIComponent(j.workflowId)}" class="mono">${j.workflowId}</a>${j.vertex ? html` (vertex ${j.vertex})` : ''}`
        : undefined,
    ],
    ['queue wait', wait === undefined ? undefined : duration(wait)],
    ['run time', run === undefined ? undefined : duration(run)],
  ];
  const other = Object.entries(j as unknown as Record<string, unknown>).filter(
    ([k, v]) => !KNOWN.has(k) && v !== undefined,
  );
  const env = Object.entries(j.env ?? {}).sort(([a], [b]) => a.localeCompare(b));
  const p = d.pilot;
  return layout({
    title: `Job ${j.name}`,
    nav: 'jobs',
    ctx,
    main: j.state === 'running' ? html` data-reload="${RELOAD_RUNNING_S}"` : undefined,
    body: html`<h1>Job <span class="job-name">${j.name}</span> ${badge(j.state)}</h1>
<div class="grid">
<section class="card"><h2>Fields</h2>${kv(fields)}${
      other.length
        ? html`<h3>Other fields</h3>${kv(other.map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)] as const))}`
        : ''
    }</section>
<section class="card"><h2>State timeline</h2><ol class="timeline">${steps.map((s, i) => {
      const prev = steps[i - 1];
      const gap = prev ? between(prev.at, s.at) : undefined;
      return html`<li data-step="${s.label}"><strong>${s.label}</strong> — ${when(s.at)}${gap !== undefined ? html` <span class="muted">(+${duration(gap)})</span>` : ''}</li>`;
    })}</ol></section>
<section class="card"><h2>Environment</h2>${
      env.length
        ? html`<table class="env"><thead><tr><th scope="col">variable</th><th scope="col">value</th></tr></thead><tbody>${env.map(
            ([k, v]) => html`<tr><th scope="row"><code>${k}</code></th><td><code>${v}</code></td></tr>`,
          )}</tbody></table>`
        : html`<p class="muted">No variables.</p>`
    }</section>
<section class="card"><h2>Pilot</h2>${
      p
        ? kv([
            ['pilot', pilotLink(p.id)],
            ['state', badge(p.state)],
            ['host', p.host],
            ['site', p.site],
            ['last heartbeat', html`${when(p.lastSeenAt)} (${ago(p.lastSeenAt, ctx.nowMs)})`],
            ['jobs done', p.jobcount],
          ])
        : d.pilotGone
          ? html`<p class="muted">Pilot ${pilotLink(j.pilotId)} is no longer on record.</p>`
          : html`<p class="muted">${j.pilotId ? none : 'Not dispatched to a pilot.'}</p>`
    }</section>
${tail('stdout', j, ctx.nowMs)}
${tail('stderr', j, ctx.nowMs)}
</div>`,
  });
}
