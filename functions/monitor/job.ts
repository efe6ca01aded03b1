import { JobId } from '../../shared/core/job/api.ts';
import { toPilot } from '../../shared/db/items.ts';
import { getJob } from '../../shared/db/jobs.ts';
import { getPilotItem } from '../../shared/db/pilots.ts';
import { page } from '../../shared/monitor/page-route.ts';
import { jobPage } from '../../shared/monitor/pages/job.ts';

/** GET /monitor/jobs/{id} — one job: fields, env, timeline, output tails, its pilot. */
export const handler = page({ access: 'viewer', path: JobId }, async ({ path, caller }) => {
  const job = await getJob(path.id);
  const item = job.pilotId ? await getPilotItem(job.pilotId) : undefined;
  return jobPage(
    { job, pilot: item && toPilot(item), pilotGone: Boolean(job.pilotId && !item) },
    { caller, nowMs: Date.now() },
  );
});
