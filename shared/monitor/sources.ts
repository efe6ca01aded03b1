import { monitorWorkflowSource } from '../db/workflow-store.ts';
import type { DagEdgeView } from './dag-svg.ts';

/**
 * What the workflow pages need from the workflow repository, kept narrow so the pages depend on
 * this and not on how workflows are stored. shared/db/workflow-store.ts implements it
 * (`monitorWorkflowSource`). A workflow's vertices and their states come from its jobs (the jobs
 * table's byWorkflow index), its edges from the workflow record.
 */

interface Page<T> {
  items: T[];
  nextCursor?: string;
}

export interface WorkflowRow {
  id: string;
  name?: string;
  /** The DAG template it was made from. */
  dag?: string;
  state: string;
  user?: string;
  /** Jobs, and jobs that have ended (any end state). */
  nvertices?: number;
  ndone?: number;
  /** The file whose arrival started it (rule-made workflows). */
  inputFile?: string;
  rule?: string;
  createdAt?: string;
  startedAt?: string;
  stateAt?: string;
  endedAt?: string;
}

/** The file on one edge of a workflow: what its source writes and its target reads. */
export interface WorkflowEdgeFile {
  source: string;
  target: string;
  datatype: string;
  datatag: string;
  path: string;
  comment?: string;
}

export interface WorkflowDetail extends WorkflowRow {
  /** The DAG's edges (files); vertices come from the workflow's jobs. */
  edges: DagEdgeView[];
  /** The files on its edges. */
  files?: WorkflowEdgeFile[];
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
