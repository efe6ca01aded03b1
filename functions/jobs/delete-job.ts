import { JobId } from '../../shared/core/job/api.ts';
import { deleteJob } from '../../shared/db/jobs.ts';
import { route } from '../../shared/http/route.ts';

export const handler = route({ access: 'operator', path: JobId }, async ({ path }) => {
  await deleteJob(path.id);
  return { deleted: path.id };
});
