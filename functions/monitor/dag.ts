import { DagNamePath } from '../../shared/core/workflow/workflow.ts';
import { getDag } from '../../shared/db/dags.ts';
import { page } from '../../shared/monitor/page-route.ts';
import { dagPage } from '../../shared/monitor/pages/catalog.ts';

/** GET /monitor/dags/{name} — a DAG template drawn, with its vertices and edges. */
export const handler = page({ access: 'viewer', path: DagNamePath }, async ({ path, caller }) =>
  dagPage({ dag: await getDag(path.name) }, { caller, nowMs: Date.now() }),
);
