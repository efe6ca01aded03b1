import { JobId } from '../../shared/core/job/api.ts';
import { killJob } from '../../shared/db/job-transitions.ts';
import { route } from '../../shared/http/route.ts';

export const handler = route({ access: 'operator', path: JobId }, async ({ path, caller }) =>
  killJob(path.id, `killed by ${caller.name}`),
);
