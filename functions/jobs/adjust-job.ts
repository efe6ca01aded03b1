import { AdjustBody, JobId } from '../../shared/core/job/api.ts';
import { adjustJob } from '../../shared/db/job-transitions.ts';
import { route } from '../../shared/http/route.ts';

/** Changes a queued job's priority, or holds/releases it. */
export const handler = route({ access: 'operator', path: JobId, body: AdjustBody }, async ({ path, body }) =>
  adjustJob(path.id, body),
);
