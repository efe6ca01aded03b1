import { page } from '../../shared/monitor/page-route.ts';
import { workflowsPage } from '../../shared/monitor/pages/workflows.ts';
import { WorkflowsQuery } from '../../shared/monitor/queries.ts';
import { workflowSource } from '../../shared/monitor/sources.ts';

/** GET /monitor/workflows — workflows, newest first (the workflows table's `list` index). */
export const handler = page({ access: 'viewer', query: WorkflowsQuery }, async ({ query, caller }) => {
  const list = await workflowSource.listWorkflows(query);
  return workflowsPage({ ...list, query }, { caller, nowMs: Date.now() });
});
