import { z } from 'zod';
import { JobtypeName } from '../../shared/core/job/job.ts';
import { JobtypeSettings } from '../../shared/core/jobtype/jobtype.ts';
import { setJobtype } from '../../shared/db/jobtypes.ts';
import { route } from '../../shared/http/route.ts';

/** Sets a type's cap (`limit`), default priority, queue deadline or sampling; null removes one. */
export const handler = route(
  { access: 'operator', path: z.object({ name: JobtypeName }), body: JobtypeSettings },
  async ({ path, body }) => setJobtype(path.name, body),
);
