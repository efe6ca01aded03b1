import { listDags } from '../../shared/db/dags.ts';
import { route } from '../../shared/http/route.ts';

/** Every DAG template's summary (name, counts, roots, job types, datatypes), by name. */
export const handler = route({ access: 'viewer' }, async () => ({ dags: await listDags() }));
