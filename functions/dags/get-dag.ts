import { z } from 'zod';
import { toGraphML } from '../../shared/core/dag/graphml.ts';
import { DagNamePath } from '../../shared/core/workflow/workflow.ts';
import { dagOf, getDag } from '../../shared/db/dags.ts';
import { HttpResponse, route } from '../../shared/http/route.ts';

/** One DAG template as JSON, or as GraphML with `?format=graphml` (what `p3s dag show --graphml` prints). */
export const handler = route(
  {
    access: 'viewer',
    path: DagNamePath,
    query: z.strictObject({ format: z.enum(['json', 'graphml']).optional() }),
  },
  async ({ path, query }) => {
    const dag = await getDag(path.name);
    if (query.format !== 'graphml') return dag;
    return new HttpResponse(200, toGraphML(dagOf(dag)), {
      'content-type': 'application/xml; charset=utf-8',
      'cache-control': 'no-store',
    });
  },
);
