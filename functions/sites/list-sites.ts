import { listSites } from '../../shared/db/sites.ts';
import { route } from '../../shared/http/route.ts';

export const handler = route({ access: 'viewer' }, async () => ({ sites: await listSites() }));
