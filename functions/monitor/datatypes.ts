import { listDatatypes } from '../../shared/db/datatypes.ts';
import { page } from '../../shared/monitor/page-route.ts';
import { datatypesPage } from '../../shared/monitor/pages/catalog.ts';

/** GET /monitor/datatypes — the datatypes (name and extension). */
export const handler = page({ access: 'viewer' }, async ({ caller }) =>
  datatypesPage({ datatypes: await listDatatypes() }, { caller, nowMs: Date.now() }),
);
