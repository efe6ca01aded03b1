import { z } from 'zod';
import { SiteName } from '../../shared/core/job/job.ts';
import { deleteSite } from '../../shared/db/sites.ts';
import { route } from '../../shared/http/route.ts';

/** DELETE /sites/{name} — forget a site's pilot defaults (operator). */
export const handler = route({ access: 'operator', path: z.object({ name: SiteName }) }, async ({ path }) => {
  await deleteSite(path.name);
  return { deleted: path.name };
});
