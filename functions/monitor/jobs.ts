import { jobtypeOfEntity } from '../../shared/core/stats/job-events.ts';
import { listJobs } from '../../shared/db/jobs.ts';
import { listJobtypes } from '../../shared/db/jobtypes.ts';
import { counters } from '../../shared/db/stats.ts';
import { page } from '../../shared/monitor/page-route.ts';
import { jobsPage } from '../../shared/monitor/pages/jobs.ts';
import { JobsQuery, jobFilter } from '../../shared/monitor/queries.ts';

/** GET /monitor/jobs — the jobs table, filtered through the jobs indexes (never a scan). */
export const handler = page({ access: 'viewer', query: JobsQuery }, async ({ query, caller }) => {
  const nowMs = Date.now();
  const [list, types, counts] = await Promise.all([
    listJobs(jobFilter(query, nowMs)),
    listJobtypes(),
    counters(),
  ]);
  // Types known from their counters too: a type needs no settings to have jobs.
  const names = [
    ...types.map((t) => t.name),
    ...Object.keys(counts).flatMap((k) => jobtypeOfEntity(k) ?? []),
  ];
  return jobsPage(
    { ...list, query, jobtypes: [...new Set(names)], counts: counts.jobs ?? {} },
    { caller, nowMs },
  );
});
