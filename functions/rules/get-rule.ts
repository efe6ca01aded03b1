import { z } from 'zod';
import { RuleName } from '../../shared/core/data/rule.ts';
import { getRule } from '../../shared/db/rules.ts';
import { route } from '../../shared/http/route.ts';

export const handler = route({ access: 'viewer', path: z.object({ name: RuleName }) }, async ({ path }) =>
  getRule(path.name),
);
