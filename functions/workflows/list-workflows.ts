import { WorkflowListQuery } from '../../shared/core/workflow/workflow.ts';
import { listWorkflows } from '../../shared/db/workflow-store.ts';
import { route } from '../../shared/http/route.ts';

/** Workflows, newest first; by state, DAG or user. */
export const handler = route({ access: 'viewer', query: WorkflowListQuery }, async ({ query }) =>
  listWorkflows(query),
);
