import type { Job } from '../../core/job/job.ts';
import { badge, type Column, when } from '../components.ts';
import { between, duration, shortId } from '../format.ts';
import { html } from '../html.ts';

const none = html`<span class="muted">—</span>`;

export const jobLink = (id: string) =>
  html`<a class="mono" href="/monitor/jobs/${encodeURIComponent(id)}" title="${id}">${shortId(id)}</a>`;
export const pilotLink = (id: string | undefined) =>
  id
    ? html`<a class="mono" href="/monitor/pilots/${encodeURIComponent(id)}" title="${id}">${shortId(id)}</a>`
    : none;

/** The columns of every table of jobs (jobs page, a pilot's jobs, a workflow's jobs). */
export const JOB_COLUMNS: readonly Column<Job>[] = [
  { key: 'id', label: 'job', cell: (j) => jobLink(j.id) },
  { key: 'name', label: 'name', cell: (j) => j.name, value: (j) => j.name },
  { key: 'jobtype', label: 'type', cell: (j) => j.jobtype, value: (j) => j.jobtype },
  { key: 'state', label: 'state', cell: (j) => badge(j.state), value: (j) => j.state },
  { key: 'user', label: 'user', cell: (j) => j.user ?? none, value: (j) => j.user },
  { key: 'site', label: 'site', cell: (j) => j.site ?? none, value: (j) => j.site },
  { key: 'priority', label: 'pri.', numeric: true, cell: (j) => j.priority, value: (j) => j.priority },
  { key: 'pilot', label: 'pilot', cell: (j) => pilotLink(j.pilotId) },
  { key: 'created', label: 'created', cell: (j) => when(j.createdAt), value: (j) => j.createdAt },
  { key: 'started', label: 'started', cell: (j) => when(j.startedAt), value: (j) => j.startedAt },
  { key: 'ended', label: 'ended', cell: (j) => when(j.endedAt), value: (j) => j.endedAt },
  {
    key: 'exit',
    label: 'exit',
    numeric: true,
    cell: (j) => (j.exitCode ?? j.signal ?? none) as string | number,
    value: (j) => j.exitCode ?? undefined,
  },
  {
    key: 'runtime',
    label: 'run time',
    numeric: true,
    cell: (j) => {
      const d = between(j.startedAt, j.endedAt);
      return d === undefined ? none : duration(d);
    },
    value: (j) => between(j.startedAt, j.endedAt),
  },
];
