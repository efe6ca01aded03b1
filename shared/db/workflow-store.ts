import { GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import { config, tableName } from '../config.ts';
import type { Dag } from '../core/dag/dag.ts';
import type { WorkflowFile } from '../core/dag/instantiate.ts';
import { NotFoundError } from '../core/errors.ts';
import { JobState } from '../core/job/job.ts';
import { ttlAfterDays } from '../core/util/time.ts';
import {
  type EdgeFile,
  filesByVertex,
  isWorkflowEnded,
  statesBefore,
  type WorkflowListQuery,
  type WorkflowState,
} from '../core/workflow/workflow.ts';
import { batchGet } from './batch.ts';
import { db } from './client.ts';
import { isConditionFailed } from './conditions.ts';
import { listNewestByDay } from './cursor.ts';
import { unpack } from './dags.ts';
import { LIST_PREFIX, pick, WORKFLOW_FIELDS } from './items.ts';

/**
 * Workflow records (docs/design.md §3, §6; docs/workflows.md): the workflow item — a summary
 * (state, counts, times) and, gzipped in `spec`, its own copy of the DAG, the files of its edges
 * and the id of each vertex's job, so a DAG may be replaced or deleted later without touching
 * its workflows and the item stays far below DynamoDB's 400 KB (which also keeps every state
 * update cheap: writes are billed by item size) — and the reads of workflows and their jobs.
 * Running workflows (creating their jobs, releasing, cancelling) is workflow-runner.ts.
 */
export const table = () => tableName('workflows');

const jobsTable = () => tableName('jobs');

/** A workflow without its jobs and files (listings). */
export interface Workflow {
  id: string;
  name: string;
  /** The DAG it was made from (its copy is kept with the workflow). */
  dag: string;
  state: WorkflowState;
  user?: string;
  nvertices: number;
  nedges: number;
  /** Jobs that have ended, in any terminal state. */
  ndone: number;
  /** The arriving file, for a workflow created by a trigger rule (every job's P3S_INPUT_FILE). */
  inputFile?: string;
  dataId?: string;
  rule?: string;
  createdAt: string;
  definedAt?: string;
  startedAt?: string;
  endedAt?: string;
  stateAt: string;
}

/** One job of a workflow, with the files on its edges. */
interface WorkflowJobView {
  vertex: string;
  id: string;
  name: string;
  jobtype: string;
  state: JobState;
  exitCode?: number | null;
  pilotId?: string;
  message?: string;
  stateAt?: string;
  endedAt?: string;
  inputs: EdgeFile[];
  outputs: EdgeFile[];
}

export type StoredFile = Omit<WorkflowFile, 'workflowId'>;

export interface WorkflowDetail extends Workflow {
  fileinfo?: unknown;
  jobinfo?: unknown;
  jobs: WorkflowJobView[];
  files: StoredFile[];
}

/** What `spec` holds (gzipped JSON). */
export interface Spec {
  dag: Dag;
  files: StoredFile[];
  /** Vertex → job id. */
  jobs: Record<string, string>;
  fileinfo?: unknown;
  jobinfo?: unknown;
}

/** What the advancer and `show` read of a job (a projection: never env or output tails). */
export const JobRow = z.object({
  id: z.string(),
  vertex: z.string(),
  name: z.string(),
  jobtype: z.string(),
  state: JobState,
  priority: z.number(),
  site: z.string().optional(),
  stateAt: z.string().optional(),
  exitCode: z.number().nullable().optional(),
  pilotId: z.string().optional(),
  message: z.string().optional(),
  startedAt: z.string().optional(),
  endedAt: z.string().optional(),
});
export type JobRow = z.infer<typeof JobRow>;

/** The attributes of a JobRow. */
const JOB_ATTRS: readonly string[] = Object.keys(JobRow.shape);

/** What a listing reads: the answer's fields and the index key (for the cursor), never the spec. */
const SUMMARY_ATTRS = [...Object.keys(WORKFLOW_FIELDS), 'lpk'];

/** Largest packed spec accepted: a DynamoDB item holds 400 KB, and the summary needs a little. */
export const MAX_SPEC_BYTES = 350_000;

/** The one partition of the sparse `open` index: workflows started and not yet fully ended. */
export const OPEN = 'open';

const toWorkflow = (item: Record<string, unknown>): Workflow => pick(WORKFLOW_FIELDS, item);

export async function getItem(id: string): Promise<Record<string, unknown> | undefined> {
  const r = await db().send(new GetCommand({ TableName: table(), Key: { id }, ConsistentRead: true }));
  return r.Item;
}

/**
 * Moves the workflow's state forward only (template → defined → running → an end), so a step
 * that read older job states can never undo a newer one, and keeps `ndone` from going back.
 * Returns the state the workflow is in afterwards, as far as this step knows.
 */
export async function setWorkflowState(
  item: Record<string, unknown>,
  to: WorkflowState,
  ndone: number,
  now: string,
  times: { startedAt: string; endedAt: string } = { startedAt: now, endedAt: now },
): Promise<WorkflowState> {
  const id = item.id as string;
  const from = item.state as WorkflowState;
  // Every job has ended (so `to` is an end state): nothing left to advance, out of the `open` index.
  const close = ndone >= Number(item.nvertices) ? ' REMOVE opk' : '';
  if (statesBefore(to).includes(from)) {
    const names: Record<string, string> = { '#s': 'state' };
    const values: Record<string, unknown> = { ':to': to, ':now': now, ':n': ndone };
    if (to !== 'defined') values[':started'] = times.startedAt;
    if (isWorkflowEnded(to)) values[':ended'] = times.endedAt;
    let set = '#s = :to, stateAt = :now, ndone = :n';
    const allowed = statesBefore(to);
    allowed.forEach((s, i) => {
      values[`:f${i}`] = s;
    });
    if (to !== 'defined') set += ', startedAt = if_not_exists(startedAt, :started)';
    if (isWorkflowEnded(to)) {
      names['#ttl'] = 'ttl';
      set += ', endedAt = :ended, #ttl = :ttl';
      values[':ttl'] = ttlAfterDays(config().P3S_RETENTION_DAYS);
    }
    try {
      await db().send(
        new UpdateCommand({
          TableName: table(),
          Key: { id },
          UpdateExpression: `SET ${set}${close}`,
          ConditionExpression: `#s IN (${allowed.map((_, i) => `:f${i}`).join(', ')})`,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
      return to;
    } catch (err) {
      if (!isConditionFailed(err)) throw err;
      // Someone moved it at least as far: only the count may still be ours to raise.
    }
  }
  if (ndone > Number(item.ndone ?? 0) || (close && item.opk)) {
    await db()
      .send(
        new UpdateCommand({
          TableName: table(),
          Key: { id },
          UpdateExpression: `SET ndone = :n${close}`,
          ConditionExpression: `attribute_exists(id) AND (attribute_not_exists(ndone) OR ndone ${close ? '<=' : '<'} :n)`,
          ExpressionAttributeValues: { ':n': ndone },
        }),
      )
      .catch((err) => {
        if (!isConditionFailed(err)) throw err;
      });
  }
  return statesBefore(to).includes(from) ? to : from;
}

/** Whether a workflow of this id exists (a consistent read of its key only). */
export async function workflowExists(id: string): Promise<boolean> {
  const r = await db().send(
    new GetCommand({ TableName: table(), Key: { id }, ConsistentRead: true, ProjectionExpression: 'id' }),
  );
  return Boolean(r.Item);
}

/**
 * One page of the workflows that may still need an advance step — started and not every job
 * ended — oldest first, through the sparse `open` index (keys only). Its size is the number of
 * workflows in progress, never the history. `after` is the previous page's `next`.
 */
export async function openWorkflows(
  limit: number,
  after?: Record<string, unknown>,
): Promise<{ ids: string[]; next?: Record<string, unknown> }> {
  const r = await db().send(
    new QueryCommand({
      TableName: table(),
      IndexName: 'open',
      KeyConditionExpression: 'opk = :o',
      ExpressionAttributeValues: { ':o': OPEN },
      Limit: limit,
      ExclusiveStartKey: after,
    }),
  );
  return { ids: (r.Items ?? []).map((it) => String(it.id)), next: r.LastEvaluatedKey };
}

/** A workflow with each job's state and the files on its edges. */
export async function getWorkflow(id: string): Promise<WorkflowDetail> {
  const item = await getItem(id);
  if (!item) throw new NotFoundError('workflow', id);
  const spec = unpack<Spec>(item.spec);
  const jobs = await loadJobs(spec.jobs);
  const byVertex = filesByVertex(spec.files);
  const views: WorkflowJobView[] = [];
  for (const v of spec.dag.vertices) {
    const j = jobs.get(v.name);
    if (!j) continue;
    const f = byVertex.get(v.name);
    views.push({
      vertex: v.name,
      id: j.id,
      name: j.name,
      jobtype: j.jobtype,
      state: j.state,
      exitCode: j.exitCode,
      pilotId: j.pilotId,
      message: j.message,
      stateAt: j.stateAt,
      endedAt: j.endedAt,
      inputs: f?.inputs ?? [],
      outputs: f?.outputs ?? [],
    });
  }
  return {
    ...toWorkflow(item),
    fileinfo: spec.fileinfo,
    jobinfo: spec.jobinfo,
    jobs: views,
    files: spec.files,
  };
}

/** The workflow item with its DAG edges but no job reads (the monitor's page reads jobs itself). */
async function getWorkflowRecord(
  id: string,
): Promise<(Workflow & { dagSpec: Dag; files: StoredFile[] }) | undefined> {
  const item = await getItem(id);
  if (!item) return undefined;
  const spec = unpack<Spec>(item.spec);
  return { ...toWorkflow(item), dagSpec: spec.dag, files: spec.files };
}

/**
 * Lists workflows newest first through the `list` index (one partition per creation day, within
 * the retention window), optionally by state, DAG or user, within the read budget.
 */
export async function listWorkflows(
  given: Omit<WorkflowListQuery, 'limit'> & { limit: number },
): Promise<{ workflows: Workflow[]; nextCursor?: string; searchedBackTo?: string }> {
  const r = await listNewestByDay({
    table: table(),
    prefix: `${LIST_PREFIX.workflow}#`,
    timeAttr: 'createdAt',
    equals: { state: given.state, dag: given.dag, user: given.user },
    since: given.since,
    until: given.until,
    limit: given.limit,
    cursor: given.cursor,
    projection: SUMMARY_ATTRS,
  });
  return { workflows: r.items.map(toWorkflow), nextCursor: r.nextCursor, searchedBackTo: r.searchedBackTo };
}

/**
 * The monitor's view of this repository (shared/monitor/sources.ts `WorkflowSource`): install it
 * with `installSources({ workflows: monitorWorkflowSource })`.
 */
export const monitorWorkflowSource = {
  async listWorkflows(f: { state?: string; user?: string; limit: number; cursor?: string }) {
    const state = f.state ? [f.state as WorkflowState] : undefined;
    const r = await listWorkflows({
      state,
      user: f.user ? [f.user] : undefined,
      limit: f.limit,
      cursor: f.cursor,
    });
    return { items: r.workflows, nextCursor: r.nextCursor };
  },
  async getWorkflow(id: string) {
    const w = await getWorkflowRecord(id);
    if (!w) return undefined;
    const { dagSpec: _d, files, ...row } = w;
    return {
      ...row,
      edges: files.map((f) => ({ source: f.source, target: f.target, label: f.datatag || f.name })),
      files: files.map(({ source, target, datatype, datatag, path, comment }) => ({
        source,
        target,
        datatype,
        datatag,
        path,
        comment,
      })),
      extra: { name: row.name, nvertices: row.nvertices, ndone: row.ndone, inputFile: row.inputFile },
    };
  },
};

/** Current state of each vertex's job, read consistently by id (the JOB_ATTRS projection). */
export async function loadJobs(ids: Record<string, string>): Promise<Map<string, JobRow>> {
  const items = await batchGet(
    jobsTable(),
    Object.values(ids).map((id) => ({ id })),
    { consistent: true, attributes: JOB_ATTRS },
  );
  const out = new Map<string, JobRow>();
  for (const it of items) {
    const row = JobRow.parse(it);
    out.set(row.vertex, row);
  }
  return out;
}
