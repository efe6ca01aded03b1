import { z } from 'zod';
import { RuleName } from '../../shared/core/data/rule.ts';
import { setRuleEnabled } from '../../shared/db/rules.ts';
import { route } from '../../shared/http/route.ts';

/** Enables or disables a rule (`{"enabled": false}`). */
export const handler = route(
  { access: 'submitter', path: z.object({ name: RuleName }), body: z.strictObject({ enabled: z.boolean() }) },
  async ({ path, body }) => setRuleEnabled(path.name, body.enabled),
);
