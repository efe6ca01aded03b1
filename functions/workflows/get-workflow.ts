import { WorkflowId } from '../../shared/core/workflow/workflow.ts';
import { getWorkflow } from '../../shared/db/workflow-store.ts';
import { route } from '../../shared/http/route.ts';

/** A workflow with each job's state and the files on its edges. */
export const handler = route({ access: 'viewer', path: WorkflowId }, async ({ path }) =>
  getWorkflow(path.id),
);
