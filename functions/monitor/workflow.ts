import { NotFoundError } from '../../shared/core/errors.ts';
import { listJobs } from '../../shared/db/jobs.ts';
import { page } from '../../shared/monitor/page-route.ts';
import { workflowPage } from '../../shared/monitor/pages/workflows.ts';
import { IdPath } from '../../shared/monitor/queries.ts';
import { workflowSource } from '../../shared/monitor/sources.ts';

/** A DAG has at most 500 vertices (shared/core/dag), so one page holds every job of a workflow. */
const MAX_VERTICES = 500;

/** GET /monitor/workflows/{id} — a workflow's DAG coloured by job state, and its jobs. */
export const handler = page({ access: 'viewer', path: IdPath }, async ({ path, caller }) => {
  const [workflow, { jobs }] = await Promise.all([
    workflowSource.getWorkflow(path.id),
    listJobs({ workflowId: path.id, limit: MAX_VERTICES }),
  ]);
  if (!workflow && !jobs.length) throw new NotFoundError('workflow', path.id);
  return workflowPage({ id: path.id, workflow, jobs }, { caller, nowMs: Date.now() });
});
