import { z } from 'zod';
import { RuleInput } from '../../shared/core/data/rule.ts';
import { putRule } from '../../shared/db/rules.ts';
import { route } from '../../shared/http/route.ts';

/** Adds a trigger rule; `?replace=true` replaces one of the same name. */
export const handler = route(
  {
    access: 'submitter',
    body: RuleInput,
    query: z.strictObject({ replace: z.enum(['true', 'false']).optional() }),
    maxBody: 256 * 1024,
    status: 201,
  },
  async ({ body, query, caller }) => putRule(body, { user: caller.name, replace: query.replace === 'true' }),
);
