import { listJobtypes } from '../../shared/db/jobtypes.ts';
import { route } from '../../shared/http/route.ts';

export const handler = route({ access: 'viewer' }, async () => ({ jobtypes: await listJobtypes() }));
