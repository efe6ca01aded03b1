import { DagNamePath } from '../../shared/core/workflow/workflow.ts';
import { deleteDag } from '../../shared/db/dags.ts';
import { route } from '../../shared/http/route.ts';

/** Deletes a DAG template; workflows made from it keep their own copy. */
export const handler = route({ access: 'operator', path: DagNamePath }, async ({ path }) => {
  await deleteDag(path.name);
  return { deleted: path.name };
});
