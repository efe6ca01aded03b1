import { WorkflowId } from '../../shared/core/workflow/workflow.ts';
import { cancelWorkflow } from '../../shared/db/workflow-runner.ts';
import { route } from '../../shared/http/route.ts';

/** Cancels a workflow: waiting jobs are cancelled, dispatched and running ones killed. */
export const handler = route({ access: 'submitter', path: WorkflowId }, async ({ path }) =>
  cancelWorkflow(path.id),
);
