import { z } from 'zod';
import { MAX_GRAPHML_BYTES } from '../../shared/core/dag/graphml.ts';
import { DagUpload } from '../../shared/core/workflow/workflow.ts';
import { putDag } from '../../shared/db/dags.ts';
import { route } from '../../shared/http/route.ts';

/**
 * Uploads a DAG template: `{name?, graphml}` (the original GraphML) or `{name?, dag}` (JSON);
 * `?replace=true` replaces one of the same name. The body may be larger than the GraphML's
 * 1 MiB limit, because JSON escaping (quotes, newlines) lengthens the text.
 */
export const handler = route(
  {
    access: 'submitter',
    body: DagUpload,
    query: z.strictObject({ replace: z.enum(['true', 'false']).optional() }),
    maxBody: 3 * MAX_GRAPHML_BYTES,
    status: 201,
  },
  async ({ body, query, caller }) => putDag(body, { user: caller.name, replace: query.replace === 'true' }),
);
