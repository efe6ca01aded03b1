import { randomUUID } from 'node:crypto';
import { DeleteCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { config } from '../config.ts';
import { decide } from '../core/dag/advance.ts';
import { instantiate } from '../core/dag/instantiate.ts';
import type { WorkflowAction } from '../core/data/rule.ts';
import { ConflictError, NotFoundError, ValidationError } from '../core/errors.ts';
import { IN_FLIGHT, isTerminal, type JobState, type JobSubmission } from '../core/job/job.ts';
import { uuidFrom } from '../core/util/ids.ts';
import { nowIso, ttlAfterDays } from '../core/util/time.ts';
import {
  cancelMessage,
  isWorkflowEnded,
  WAITING,
  type WorkflowCreate,
  type WorkflowState,
  workflowTimes,
} from '../core/workflow/workflow.ts';
import { log } from '../log.ts';
import { forEach } from './batch.ts';
import { db } from './client.ts';
import { isConditionFailed } from './conditions.ts';
import { dagOf, getDag, pack, unpack } from './dags.ts';
import { listDatatypes } from './datatypes.ts';
import { dayPartition } from './items.ts';
import { endJob, killJob, releaseJob } from './job-transitions.ts';
import { createJobs, deleteJob, getJobItem } from './jobs.ts';
import {
  getItem,
  getWorkflow,
  type JobRow,
  loadJobs,
  MAX_SPEC_BYTES,
  OPEN,
  type Spec,
  type StoredFile,
  setWorkflowState,
  table,
  type WorkflowDetail,
  workflowExists,
} from './workflow-store.ts';

/**
 * Running workflows (docs/design.md §3, §6; docs/workflows.md): `createWorkflow` instantiates a
 * DAG (shared/core/dag/instantiate.ts) into `template` jobs and one workflow item;
 * `advanceWorkflow` applies `decide` (shared/core/dag/advance.ts) to the jobs' current states —
 * releasing jobs whose parents all finished, finishing noops, cancelling below failures — and
 * moves the workflow's state forward. Every write is conditional on the state it leaves, so
 * advancing is idempotent and safe to run concurrently (the jobs stream, `define`, a repeated
 * record, the sweeper). The records themselves are workflow-store.ts.
 */

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
    lpk: dayPartition('workflow', now),
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
