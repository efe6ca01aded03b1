import { ListQuery } from '../../shared/core/job/api.ts';
import { listJobs } from '../../shared/db/jobs.ts';
import { route } from '../../shared/http/route.ts';

export const handler = route({ access: 'viewer', query: ListQuery }, async ({ query }) =>
  listJobs({ ...query, pilotId: query.pilot, workflowId: query.workflow }),
);
