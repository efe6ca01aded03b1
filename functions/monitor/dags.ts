import { listDags } from '../../shared/db/dags.ts';
import { page } from '../../shared/monitor/page-route.ts';
import { dagsPage } from '../../shared/monitor/pages/catalog.ts';

/** GET /monitor/dags — the DAG templates. */
export const handler = page({ access: 'viewer' }, async ({ caller }) =>
  dagsPage({ dags: await listDags() }, { caller, nowMs: Date.now() }),
);
