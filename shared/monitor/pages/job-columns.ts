import type { Job } from '../../core/job/job.ts';
import { badge, type Column, whenShort } from '../components.ts';
import { between, duration, shortId } from '../format.ts';
import { html } from '../html.ts';

const none = html`<span class="muted">—</span>`;

export const jobLink = (id: string) =>
  html`<a class="mono" href="/monitor/jobs/${encodeURIComponent(id)}" title="${id}">${shortId(id)}</a>`;
export const pilotLink = (id: string | undefined) =>
  id
    ? html`<a class="mono" href="/monitor/pilots/${encodeURIComponent(id)}" title="${id}">${shortId(id)}</a>`
    : none;

/**
 * The columns of every table of jobs (jobs page, a pilot's jobs, a workflow's jobs). They fit
 * the page: fixed widths for all but the name, one line per job, long values cut with an
 * ellipsis and shown whole on hover; times as the time of day (the date when not today).
 */
export const JOB_COLUMNS: readonly Column<Job>[] = [
  { key: 'id', label: 'job', width: 's', cell: (j) => jobLink(j.id), title: (j) => j.id },
  { key: 'name', label: 'name', cell: (j) => j.name, value: (j) => j.name },
  { key: 'jobtype', label: 'type', width: 'm', cell: (j) => j.jobtype, value: (j) => j.jobtype },
  { key: 'state', label: 'state', width: 'm', cell: (j) => badge(j.state), value: (j) => j.state },
  {
    key: 'user',
    label: 'user',
    width: 's',
    optional: true,
    cell: (j) => j.user ?? none,
    value: (j) => j.user,
  },
  {
    key: 'site',
    label: 'site',
    width: 's',
    optional: true,
    cell: (j) => j.site ?? none,
    value: (j) => j.site,
  },
  {
    key: 'priority',
    label: 'pri.',
    width: 'xs',
    numeric: true,
    cell: (j) => j.priority,
    value: (j) => j.priority,
  },
  {
    key: 'pilot',
    label: 'pilot',
    width: 's',
    cell: (j) => pilotLink(j.pilotId),
    title: (j) => j.host ?? j.pilotId,
  },
  {
    key: 'created',
    label: 'created',
    width: 't',
    cell: (j) => whenShort(j.createdAt),
    value: (j) => j.createdAt,
  },
  {
    key: 'started',
    label: 'started',
    width: 't',
    cell: (j) => whenShort(j.startedAt),
    value: (j) => j.startedAt,
  },
  { key: 'ended', label: 'ended', width: 't', cell: (j) => whenShort(j.endedAt), value: (j) => j.endedAt },
  {
    key: 'exit',
    label: 'exit',
    width: 'xs',
    numeric: true,
    cell: (j) => (j.exitCode ?? j.signal ?? none) as string | number,
    value: (j) => j.exitCode ?? undefined,
    title: (j) => j.message ?? j.signal,
  },
  {
    key: 'runtime',
    label: 'run time',
    width: 's',
    numeric: true,
    cell: (j) => {
      const d = between(j.startedAt, j.endedAt);
      return d === undefined ? none : duration(d);
    },
    value: (j) => between(j.startedAt, j.endedAt),
  },
];
