import { z } from 'zod';
import { SiteName } from '../../shared/core/job/job.ts';
import { SiteInput } from '../../shared/core/site/site.ts';
import { putSite } from '../../shared/db/sites.ts';
import { route } from '../../shared/http/route.ts';

export const handler = route(
  { access: 'operator', path: z.object({ name: SiteName }), body: SiteInput },
  async ({ path, body }) => putSite(path.name, body),
);
