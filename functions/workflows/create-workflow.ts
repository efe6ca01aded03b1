import { WorkflowCreate } from '../../shared/core/workflow/workflow.ts';
import { createWorkflow } from '../../shared/db/workflow-runner.ts';
import { route } from '../../shared/http/route.ts';

/** Creates a workflow from a DAG template (`state: defined` releases it at once). */
export const handler = route(
  { access: 'submitter', body: WorkflowCreate, maxBody: 256 * 1024, status: 201 },
  async ({ body, caller }) => createWorkflow(body, { user: caller.name }),
);
