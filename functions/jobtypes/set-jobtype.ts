import { z } from 'zod';
import { JobtypeName } from '../../shared/core/job/job.ts';
import { JobtypeSettings } from '../../shared/core/jobtype/jobtype.ts';
import { applyJobtypeSettings } from '../../shared/db/job-transitions.ts';
import { route } from '../../shared/http/route.ts';

/** Sets a type's cap (`limit`), default priority, queue deadline or sampling; null removes one. */
export const handler = route(
  { access: 'operator', path: z.object({ name: JobtypeName }), body: JobtypeSettings },
  async ({ path, body }) => applyJobtypeSettings(path.name, body),
);
