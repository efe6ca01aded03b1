import { z } from 'zod';
import { WorkflowId } from '../../shared/core/workflow/workflow.ts';
import { deleteWorkflow } from '../../shared/db/workflow-runner.ts';
import { route } from '../../shared/http/route.ts';

/** Deletes an ended (or never started) workflow and its jobs; `?force=true` cancels it first. */
export const handler = route(
  {
    access: 'operator',
    path: WorkflowId,
    query: z.strictObject({ force: z.enum(['true', 'false']).optional() }),
  },
  async ({ path, query }) => deleteWorkflow(path.id, { force: query.force === 'true' }),
);
