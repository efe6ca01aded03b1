import { RegisterBody } from '../../shared/core/data/data.ts';
import { registerFiles } from '../../shared/db/arrival.ts';
import { route } from '../../shared/http/route.ts';

/** Registers files (one, a list, or `{files}`); new ones fire the trigger rules. Idempotent on location. */
export const handler = route(
  { access: 'submitter', body: RegisterBody, maxBody: 1024 * 1024 },
  async ({ body, caller }) => ({ results: await registerFiles(body, { user: caller.name }) }),
);
