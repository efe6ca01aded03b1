import { listDatatypes } from '../../shared/db/datatypes.ts';
import { route } from '../../shared/http/route.ts';

export const handler = route({ access: 'viewer' }, async () => ({ datatypes: await listDatatypes() }));
