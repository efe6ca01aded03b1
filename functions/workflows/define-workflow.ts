import { WorkflowId } from '../../shared/core/workflow/workflow.ts';
import { defineWorkflow } from '../../shared/db/workflow-runner.ts';
import { route } from '../../shared/http/route.ts';

/** Starts a template workflow (releases its roots); on a started one, one more advance step. */
export const handler = route({ access: 'submitter', path: WorkflowId }, async ({ path }) =>
  defineWorkflow(path.id),
);
