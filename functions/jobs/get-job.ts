import { JobId } from '../../shared/core/job/api.ts';
import { getJob } from '../../shared/db/jobs.ts';
import { route } from '../../shared/http/route.ts';

export const handler = route({ access: 'viewer', path: JobId }, async ({ path }) => getJob(path.id));
