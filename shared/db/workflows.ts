import { randomUUID } from 'node:crypto';
import {
  BatchGetCommand,
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { config, tableName } from '../config.ts';
import { decide } from '../core/dag/advance.ts';
import type { Dag } from '../core/dag/dag.ts';
import { instantiate, type WorkflowFile } from '../core/dag/instantiate.ts';
import type { WorkflowAction } from '../core/data/rule.ts';
import { ConflictError, NotFoundError, ValidationError } from '../core/errors.ts';
import { IN_FLIGHT, isTerminal, type JobState, type JobSubmission, queueSortKey } from '../core/job/job.ts';
import { uuidFrom } from '../core/util/ids.ts';
import { nowIso, ttlAfterDays } from '../core/util/time.ts';
import {
  cancelMessage,
  type EdgeFile,
  filesByVertex,
  isWorkflowEnded,
  statesBefore,
  WAITING,
  type WorkflowCreate,
  type WorkflowListQuery,
  type WorkflowState,
  workflowTimes,
} from '../core/workflow/workflow.ts';
import { log } from '../log.ts';
import { db } from './client.ts';
import { isConditionFailed } from './conditions.ts';
import { listNewestByDay } from './cursor.ts';
import { dagOf, getDag, pack, unpack } from './dags.ts';
import { listDatatypes } from './datatypes.ts';
import { endJob } from './dispatch.ts';
import { pick, WORKFLOW_FIELDS } from './items.ts';
import { killJob } from './job-ops.ts';
import { createJobs, deleteJob, getJobItem } from './jobs.ts';
import { partitionOf } from './jobtypes.ts';

/**
 * Workflows (docs/design.md §3, §6): instances of a DAG template. `createWorkflow` instantiates the DAG
 * (shared/core/dag/instantiate.ts) into `template` jobs and one workflow item; `advanceWorkflow`
 * applies `decide` (shared/core/dag/advance.ts) to the jobs' current states — releasing jobs
 * whose parents all finished, finishing noops, cancelling below failures — and moves the
 * workflow's state forward. Every write is conditional on the state it leaves, so advancing is
 * idempotent and safe to run concurrently (the jobs stream, `define`, a repeated record).
 *
 * The workflow item holds a summary (state, counts, times) and, gzipped in `spec`, its own copy
 * of the DAG, the files of its edges and the id of each vertex's job: a DAG may be replaced or
 * deleted later without touching its workflows, and the item stays far below DynamoDB's 400 KB
 * (which also keeps every state update cheap: writes are billed by item size).
 */
const table = () => tableName('workflows');
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
export interface WorkflowJobView {
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
interface Spec {
  dag: Dag;
  files: StoredFile[];
  /** Vertex → job id. */
  jobs: Record<string, string>;
  fileinfo?: unknown;
  jobinfo?: unknown;
}

/** What the advancer and `show` read of a job (a projection: never env or output tails). */
interface JobRow {
  id: string;
  vertex: string;
  name: string;
  jobtype: string;
  state: JobState;
  priority: number;
  site?: string;
  stateAt?: string;
  exitCode?: number | null;
  pilotId?: string;
  message?: string;
  startedAt?: string;
  endedAt?: string;
}

const JOB_ATTRS = [
  'id',
  'vertex',
  'name',
  'jobtype',
  'state',
  'priority',
  'site',
  'stateAt',
  'exitCode',
  'pilotId',
  'message',
  'startedAt',
  'endedAt',
];
/** What a listing reads: the answer's fields and the index key (for the cursor), never the spec. */
const SUMMARY_ATTRS = [...Object.keys(WORKFLOW_FIELDS), 'lpk'];

/** Largest packed spec accepted: a DynamoDB item holds 400 KB, and the summary needs a little. */
const MAX_SPEC_BYTES = 350_000;
/** Parallel writes when one step touches many jobs (a wide fan-out). */
const CONCURRENCY = 16;

export interface CreateWorkflowOptions {
  user?: string;
  /** A trigger rule's file: every job gets env P3S_INPUT_FILE (edge and jobinfo variables win). */
  inputFile?: string;
  dataId?: string;
  rule?: string;
  /**
   * The workflow's id, chosen by the caller (derived from a file and its rule): creating it
   * again — a takeover of a registration that died — finds the workflow instead of making a
   * second one, and its jobs get ids derived from it, written conditionally.
   */
  id?: string;
}

/** The one partition of the sparse `open` index: workflows started and not yet fully ended. */
const OPEN = 'open';

const toWorkflow = (item: Record<string, unknown>): Workflow => pick(WORKFLOW_FIELDS, item);

async function getItem(id: string): Promise<Record<string, unknown> | undefined> {
  const r = await db().send(new GetCommand({ TableName: table(), Key: { id }, ConsistentRead: true }));
  return r.Item;
}

/**
 * Creates a workflow from a stored DAG: one `template` job per vertex, one file per edge, named
 * by `fileinfo` and wired into the env of both ends; `jobinfo` overrides payload, env (merged),
 * priority and time limit per vertex. With `state: 'defined'` it is released at once. Throws
 * `NotFoundError` for an unknown DAG and `ValidationError` for bad fileinfo/jobinfo or a datatype
 * that is no longer registered; nothing is stored then.
 */
export async function createWorkflow(
  input: WorkflowCreate,
  opts: CreateWorkflowOptions = {},
): Promise<WorkflowDetail> {
  const id = await insertWorkflow(input, opts);
  if (input.state === 'defined') await startWorkflow(id);
  return getWorkflow(id);
}

/** Stores the jobs and the item of a new `template` workflow; returns its id. */
async function insertWorkflow(input: WorkflowCreate, opts: CreateWorkflowOptions): Promise<string> {
  if (opts.id && (await workflowExists(opts.id))) return opts.id;
  const dag = dagOf(await getDag(input.dag));
  const types = await listDatatypes();
  const id = opts.id ?? randomUUID();
  const inst = instantiate(dag, {
    workflowId: id,
    datatypes: new Map(types.map((t) => [t.name, t])),
    fileinfo: input.fileinfo,
    jobinfo: input.jobinfo,
  });
  const files: StoredFile[] = inst.files.map(({ workflowId: _w, ...f }) => f);
  const specBase = { dag, files, fileinfo: input.fileinfo, jobinfo: input.jobinfo };
  const size = pack(specBase).byteLength;
  if (size > MAX_SPEC_BYTES)
    throw new ValidationError(
      `DAG ${dag.name}: the workflow record would be ${size} bytes packed (limit ${MAX_SPEC_BYTES}); use shorter payloads, paths or fewer edges`,
    );

  const subs: JobSubmission[] = inst.jobs.map((j) => ({
    name: j.name,
    jobtype: j.jobtype,
    payload: j.payload,
    env: opts.inputFile ? { P3S_INPUT_FILE: opts.inputFile, ...j.env } : j.env,
    priority: j.priority,
    timelimit: j.timelimit,
    state: 'defined',
  }));
  const extra: Record<string, string> = {};
  if (opts.dataId) extra.dataId = opts.dataId;
  if (opts.rule) extra.rule = opts.rule;
  const jobs = await createJobs(subs, {
    user: opts.user,
    workflowId: id,
    vertices: inst.jobs.map((j) => j.vertex),
    state: 'template',
    extra,
    ids: opts.id ? inst.jobs.map((j) => uuidFrom('workflow-job', id, j.vertex)) : undefined,
  });
  const spec: Spec = { ...specBase, jobs: Object.fromEntries(jobs.map((j) => [j.vertex!, j.id])) };
  const now = nowIso();
  const item = {
    id,
    name: input.name ?? dag.name,
    dag: dag.name,
    state: 'template' satisfies WorkflowState,
    user: opts.user,
    nvertices: dag.vertices.length,
    nedges: dag.edges.length,
    ndone: 0,
    inputFile: opts.inputFile,
    dataId: opts.dataId,
    rule: opts.rule,
    createdAt: now,
    stateAt: now,
    lpk: `W#${now.slice(0, 10)}`,
    spec: pack(spec),
  };
  try {
    await db().send(
      new PutCommand({ TableName: table(), Item: item, ConditionExpression: 'attribute_not_exists(id)' }),
    );
  } catch (err) {
    // Made meanwhile by another attempt at the same work: those jobs are its jobs too.
    if (opts.id && isConditionFailed(err)) return id;
    // Template jobs never run on their own; removing them keeps a failed create from leaving litter.
    await forEach(jobs, (j) => deleteJob(j.id)).catch((e) =>
      log.warn('workflow jobs left behind by a failed create', { workflow: id, err: String(e) }),
    );
    throw err;
  }
  return id;
}

/**
 * The hook of trigger rules (`{"workflow": {dag, fileinfo, jobinfo, name}}`, shared/db/arrival.ts):
 * creates and defines a workflow for an arriving file; every job gets env P3S_INPUT_FILE = the
 * file's location. A DAG that does not exist is a `ValidationError` (the file's trigger records
 * the error) rather than a 404.
 */
export async function createWorkflowForFile(
  action: WorkflowAction,
  ctx: { rule: string; user?: string; file: { id: string; location: string; name: string }; id?: string },
): Promise<string> {
  try {
    const id = await insertWorkflow(
      {
        dag: action.dag,
        name: action.name ?? `${action.dag}:${ctx.file.name}`,
        state: 'defined',
        fileinfo: action.fileinfo,
        jobinfo: action.jobinfo,
      },
      { user: ctx.user, inputFile: ctx.file.location, dataId: ctx.file.id, rule: ctx.rule, id: ctx.id },
    );
    await startWorkflow(id);
    return id;
  } catch (err) {
    if (err instanceof NotFoundError) throw new ValidationError(`rule ${ctx.rule}: ${err.message}`);
    throw err;
  }
}

/**
 * Starts a workflow (the original `wf2defined`): `template` → `defined`, then one advance step
 * releases its roots. On a workflow already started (or `failed`, whose independent branches
 * go on) it only advances it, which is harmless (idempotent) and nudges a workflow whose stream
 * records were lost. A finished or cancelled workflow is a `ConflictError`.
 */
export async function defineWorkflow(id: string): Promise<WorkflowDetail> {
  await startWorkflow(id);
  return getWorkflow(id);
}

async function startWorkflow(id: string): Promise<void> {
  const now = nowIso();
  try {
    await db().send(
      new UpdateCommand({
        TableName: table(),
        Key: { id },
        // Started: in the `open` index, where the sweeper finds it, until all its jobs have ended.
        UpdateExpression: 'SET #s = :defined, definedAt = :now, stateAt = :now, opk = :open',
        ConditionExpression: '#s = :template',
        ExpressionAttributeNames: { '#s': 'state' },
        ExpressionAttributeValues: {
          ':defined': 'defined',
          ':template': 'template',
          ':now': now,
          ':open': OPEN,
        },
      }),
    );
  } catch (err) {
    if (!isConditionFailed(err)) throw err;
    const item = await getItem(id);
    if (!item) throw new NotFoundError('workflow', id);
    const state = item.state as WorkflowState;
    // A failed workflow may still have independent branches to release; these two have none.
    if (state === 'finished' || state === 'cancelled')
      throw new ConflictError(`workflow ${id} is ${state}; there is nothing left to define`);
  }
  await advanceWorkflow(id);
}

/** What one advance step did (for logs and tests). */
export interface AdvanceResult {
  state?: WorkflowState;
  defined: string[];
  finished: string[];
  cancelled: string[];
}

/**
 * One advance step: reads every job's current state (consistent reads by id, never the
 * eventually consistent index, so a just-finished parent is seen), applies `decide`, and moves
 * the workflow's state forward. A cancelled workflow only has its waiting jobs cancelled; a
 * template workflow, or one that no longer exists, is left alone. A job that no longer exists
 * (deleted, or purged by TTL) counts as `cancelled`: its descendants are cancelled and the
 * workflow ends `cancelled` (or `failed`) instead of waiting for it for ever. Idempotent.
 */
export async function advanceWorkflow(id: string): Promise<AdvanceResult> {
  const result: AdvanceResult = { defined: [], finished: [], cancelled: [] };
  const item = await getItem(id);
  if (!item) return result;
  const current = item.state as WorkflowState;
  result.state = current;
  if (current === 'template') return result;
  const spec = unpack<Spec>(item.spec);
  const jobs = await loadJobs(spec.jobs);
  const states: Record<string, JobState> = {};
  for (const v of Object.keys(spec.jobs)) states[v] = jobs.get(v)?.state ?? 'cancelled';
  if (jobs.size < Object.keys(spec.jobs).length)
    log.info('workflow jobs deleted; they count as cancelled', { workflow: id });
  const now = nowIso();
  let next: WorkflowState = current;

  if (current === 'cancelled') {
    const waiting = [...jobs.values()].filter((j) => WAITING.includes(j.state));
    await forEach(waiting, async (j) => {
      if (
        await endJob({ ...j, state: [...WAITING] }, 'cancelled', {
          info: { message: 'cancelled: workflow cancelled' },
        })
      ) {
        result.cancelled.push(j.vertex);
        states[j.vertex] = 'cancelled';
      }
    });
  } else {
    const d = decide(spec.dag, states);
    const before = { ...states };
    // Cancel first, then finish noops, then release: whatever stops half-way leaves no job
    // `defined` below an unfinished parent, and the next step completes the rest.
    await forEach(d.cancel, async (v) => {
      const j = jobs.get(v)!;
      const message = cancelMessage(spec.dag, v, before);
      if (await endJob({ ...j, state: [...WAITING] }, 'cancelled', { info: { message } })) {
        result.cancelled.push(v);
        states[v] = 'cancelled';
      }
    });
    for (const v of d.finishNoop) {
      // In topological order, one by one: a noop's children must not see it unfinished.
      if (await endJob({ ...jobs.get(v)!, state: [...WAITING] }, 'finished', {})) {
        result.finished.push(v);
        states[v] = 'finished';
      }
    }
    await forEach(d.define, async (v, i) => {
      if (await releaseJob(jobs.get(v)!, now, i)) {
        result.defined.push(v);
        states[v] = 'defined';
      }
    });
    next = d.workflowState;
  }
  const ndone = Object.values(states).filter(isTerminal).length;
  const ended = result.finished.length + result.cancelled.length > 0;
  result.state = await setWorkflowState(
    item,
    next,
    ndone,
    now,
    workflowTimes([...jobs.values()], now, ended),
  );
  return result;
}

/**
 * Releases a workflow job: `template` → `defined`, entering the queue index (which wakes the
 * matchmaker). Returns false when the job was no longer `template` (released or ended by someone
 * else).
 */
export async function releaseJob(
  job: { id: string; jobtype: string; priority: number; site?: string },
  now: string = nowIso(),
  seq = 0,
): Promise<boolean> {
  try {
    await db().send(
      new UpdateCommand({
        TableName: jobsTable(),
        Key: { id: job.id },
        UpdateExpression:
          'SET #s = :defined, definedAt = :now, stateAt = :now, qpk = :qpk, qsk = :qsk, seq = :seq',
        ConditionExpression: '#s = :template',
        ExpressionAttributeNames: { '#s': 'state' },
        ExpressionAttributeValues: {
          ':defined': 'defined',
          ':template': 'template',
          ':now': now,
          ':qpk': await partitionOf(job.jobtype, job.site),
          ':qsk': queueSortKey(job.priority, now, seq, job.id),
          ':seq': seq,
        },
      }),
    );
    return true;
  } catch (err) {
    if (isConditionFailed(err)) return false;
    throw err;
  }
}

/**
 * Moves the workflow's state forward only (template → defined → running → an end), so a step
 * that read older job states can never undo a newer one, and keeps `ndone` from going back.
 * Returns the state the workflow is in afterwards, as far as this step knows.
 */
async function setWorkflowState(
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

/**
 * Cancels a workflow: it becomes `cancelled` (unless it already ended `failed`, which stays),
 * its waiting jobs are `cancelled` and its dispatched or running jobs are killed. A finished
 * workflow is a `ConflictError`; cancelling twice is harmless.
 */
export async function cancelWorkflow(id: string): Promise<WorkflowDetail> {
  const item = await getItem(id);
  if (!item) throw new NotFoundError('workflow', id);
  let state = item.state as WorkflowState;
  if (state === 'finished')
    throw new ConflictError(`workflow ${id} has finished; there is nothing to cancel`);
  if (!isWorkflowEnded(state)) {
    const now = nowIso();
    try {
      await db().send(
        new UpdateCommand({
          TableName: table(),
          Key: { id },
          UpdateExpression: 'SET #s = :cancelled, stateAt = :now, endedAt = :now, #ttl = :ttl',
          ConditionExpression: '#s IN (:t, :d, :r)',
          ExpressionAttributeNames: { '#s': 'state', '#ttl': 'ttl' },
          ExpressionAttributeValues: {
            ':cancelled': 'cancelled',
            ':now': now,
            ':ttl': ttlAfterDays(config().P3S_RETENTION_DAYS),
            ':t': 'template',
            ':d': 'defined',
            ':r': 'running',
          },
        }),
      );
    } catch (err) {
      if (!isConditionFailed(err)) throw err;
      state = ((await getItem(id))?.state as WorkflowState | undefined) ?? state;
      if (state === 'finished')
        throw new ConflictError(`workflow ${id} has finished; there is nothing to cancel`);
    }
  }
  const spec = unpack<Spec>(item.spec);
  const jobs = await loadJobs(spec.jobs);
  await forEach([...jobs.values()], (j) => stopJob(j, `workflow ${id} cancelled`));
  return getWorkflow(id);
}

/** Ends one job of a cancelled workflow: waiting jobs are cancelled, in-flight ones killed. */
async function stopJob(j: JobRow, reason: string): Promise<void> {
  let state = j.state;
  if (WAITING.includes(state)) {
    if (
      await endJob({ ...j, state: [...WAITING] }, 'cancelled', { info: { message: `cancelled: ${reason}` } })
    )
      return;
    state = ((await getJobItem(j.id))?.state as JobState | undefined) ?? state;
  }
  if (!IN_FLIGHT.has(state)) return;
  try {
    await killJob(j.id, reason);
  } catch (err) {
    // Ended on its own meanwhile: nothing left to stop.
    if (!(err instanceof ConflictError || err instanceof NotFoundError)) throw err;
  }
}

/**
 * Deletes a workflow and its jobs. A workflow that is still `defined`/`running`, or has jobs in
 * flight, is a `ConflictError` unless `force`, which cancels it first; jobs still running then
 * (their pilots kill them at the next heartbeat) are left to end as `killed` and expire with
 * the retention TTL, and are listed in `inFlight`.
 */
export async function deleteWorkflow(
  id: string,
  opts: { force?: boolean } = {},
): Promise<{ deleted: string; jobs: number; inFlight: string[] }> {
  const item = await getItem(id);
  if (!item) throw new NotFoundError('workflow', id);
  const state = item.state as WorkflowState;
  const spec = unpack<Spec>(item.spec);
  const jobs = await loadJobs(spec.jobs);
  const flying = [...jobs.values()].filter((j) => IN_FLIGHT.has(j.state));
  const live = state === 'defined' || state === 'running' || flying.length > 0;
  if (live && !opts.force) {
    throw new ConflictError(
      `workflow ${id} is ${state}${flying.length ? ` with ${flying.length} job(s) in flight` : ''}: cancel it first, or delete with force=true (CLI: --force)`,
    );
  }
  if (live) await cancelWorkflow(id);
  let deleted = 0;
  const inFlight: string[] = [];
  // Jobs first, the workflow item last: a delete that stops half-way can simply be repeated.
  await forEach(Object.values(spec.jobs), async (jobId) => {
    try {
      await deleteJob(jobId);
      deleted++;
    } catch (err) {
      if (err instanceof NotFoundError) return;
      if (err instanceof ConflictError) inFlight.push(jobId);
      else throw err;
    }
  });
  await db().send(new DeleteCommand({ TableName: table(), Key: { id } }));
  return { deleted: id, jobs: deleted, inFlight };
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
export async function getWorkflowRecord(
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
    prefix: 'W#',
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

/** Current state of each vertex's job, read consistently by id (BatchGet, 100 keys a call). */
async function loadJobs(ids: Record<string, string>): Promise<Map<string, JobRow>> {
  const all = Object.values(ids);
  const out = new Map<string, JobRow>();
  const names = Object.fromEntries(JOB_ATTRS.map((a, i) => [`#j${i}`, a]));
  for (let i = 0; i < all.length; i += 100) {
    let req: Record<string, unknown> | undefined = {
      [jobsTable()]: {
        Keys: all.slice(i, i + 100).map((id) => ({ id })),
        ConsistentRead: true,
        ProjectionExpression: Object.keys(names).join(', '),
        ExpressionAttributeNames: names,
      },
    };
    for (let attempt = 0; req && Object.keys(req).length; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 20 * 2 ** attempt)));
      const r = await db().send(new BatchGetCommand({ RequestItems: req as never }));
      for (const it of (r.Responses?.[jobsTable()] ?? []) as JobRow[]) out.set(it.vertex, it);
      req = r.UnprocessedKeys as typeof req;
    }
  }
  return out;
}

/** Runs `fn` over `items`, at most CONCURRENCY at a time; the first error is thrown after all settle. */
async function forEach<T>(
  items: readonly T[],
  fn: (item: T, index: number) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  const errors: unknown[] = [];
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      try {
        await fn(items[i]!, i);
      } catch (err) {
        errors.push(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, items.length) }, worker));
  if (errors.length) throw errors[0];
}
