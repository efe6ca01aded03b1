import { monitorWorkflowSource } from '../db/workflows.ts';
import type { DagEdgeView } from './dag-svg.ts';

/**
 * What the workflow pages need from the workflow repository, kept narrow so the pages depend on
 * this and not on how workflows are stored. shared/db/workflows.ts implements it
 * (`monitorWorkflowSource`). A workflow's vertices and their states come from its jobs (the jobs
 * table's byWorkflow index), its edges from the workflow record.
 */

export interface Page<T> {
  items: T[];
  nextCursor?: string;
}

export interface WorkflowRow {
  id: string;
  /** The DAG template it was made from. */
  dag?: string;
  state: string;
  user?: string;
  createdAt?: string;
  stateAt?: string;
  endedAt?: string;
}

export interface WorkflowDetail extends WorkflowRow {
  /** The DAG's edges (files); vertices come from the workflow's jobs. */
  edges: DagEdgeView[];
  /** Anything else the record holds, shown as attribute/value pairs. */
  extra?: Record<string, unknown>;
}

export interface WorkflowSource {
  listWorkflows(f: {
    state?: string;
    user?: string;
    limit: number;
    cursor?: string;
  }): Promise<Page<WorkflowRow>>;
  getWorkflow(id: string): Promise<WorkflowDetail | undefined>;
}

export const workflowSource: WorkflowSource = monitorWorkflowSource;
