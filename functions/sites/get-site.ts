import { z } from 'zod';
import { SiteName } from '../../shared/core/job/job.ts';
import { getSite } from '../../shared/db/sites.ts';
import { route } from '../../shared/http/route.ts';

export const handler = route({ access: 'viewer', path: z.object({ name: SiteName }) }, async ({ path }) =>
  getSite(path.name),
);
