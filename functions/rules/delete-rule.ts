import { z } from 'zod';
import { RuleName } from '../../shared/core/data/rule.ts';
import { deleteRule } from '../../shared/db/rules.ts';
import { route } from '../../shared/http/route.ts';

export const handler = route({ access: 'operator', path: z.object({ name: RuleName }) }, async ({ path }) => {
  await deleteRule(path.name);
  return { deleted: path.name };
});
