import { summary } from '../../shared/db/stats.ts';
import { route } from '../../shared/http/route.ts';

export const handler = route({ access: 'viewer' }, async () => summary());
