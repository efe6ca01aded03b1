import { listRules } from '../../shared/db/rules.ts';
import { route } from '../../shared/http/route.ts';

export const handler = route({ access: 'viewer' }, async () => ({ rules: await listRules() }));
