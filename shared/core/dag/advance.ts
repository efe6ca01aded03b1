import { z } from 'zod';
import { JobState, TERMINAL } from '../job/job.ts';
import { childrenOf, type Dag, NOOP, parentsOf, topoSort } from './dag.ts';

/**
 * Dependency release for a running workflow (docs/design.md §6), fixing the original's fan-in bugs
 * (p3s-original §9.4): a job is released only when ALL its parents have finished, a parent
 * that ends any other way cancels its descendants and fails the workflow, and noop vertices
 * pass release on through any depth of the DAG.
 */

export const WorkflowState = z.enum(['template', 'defined', 'running', 'finished', 'failed', 'cancelled']);
export type WorkflowState = z.infer<typeof WorkflowState>;

/** What the workflow advancer should write. Lists are in topological order. */
export interface Decision {
  /** Jobs whose parents have all finished: `template` → `defined` (queued). */
  define: string[];
  /** Noop jobs whose parents have all finished (or noop roots): → `finished` at once. */
  finishNoop: string[];
  /** Jobs still `template`/`defined` below a job that ended other than `finished`: → `cancelled`. */
  cancel: string[];
  /** The workflow's state once the above is applied. */
  workflowState: WorkflowState;
}

const RELEASABLE: ReadonlySet<JobState> = new Set(['template', 'defined']);

/**
 * Decides, from the current state of every job of a started workflow (keyed by vertex), which
 * jobs to define, which noop jobs to finish and which jobs to cancel, and the resulting
 * workflow state. Noop release is followed to its fixpoint in one call, so applying the
 * decision and calling again yields empty lists and the same workflow state (idempotent:
 * safe for duplicated or reordered stream records).
 *
 * Workflow state: `failed` if any job ended other than `finished` (cancellations it causes
 * included), except `cancelled` when every such job is `cancelled` (the workflow was
 * cancelled as a whole); `finished` when all jobs are; `running` once a non-noop job has
 * been dispatched or has ended; `defined` once anything left `template`; else `template`.
 * Branches that do not descend from a failure keep running after the workflow has failed.
 *
 * Do not call it for a workflow that has not been started: it releases the roots at once.
 * Throws if a vertex has no state (the caller must pass every job of the workflow).
 */
export function decide(dag: Dag, states: Readonly<Record<string, JobState>>): Decision {
  const order = topoSort(dag);
  const state = new Map<string, JobState>();
  for (const v of order) {
    const s = Object.hasOwn(states, v) ? states[v] : undefined;
    if (s === undefined) throw new Error(`decide: no state for vertex ${v} of DAG ${dag.name}`);
    state.set(v, JobState.parse(s));
  }
  const jobtype = new Map(dag.vertices.map((v) => [v.name, v.jobtype]));
  const parents = parentsOf(dag);
  const children = childrenOf(dag);

  // Cancel first, so a job below a failure can never also be released by a stale view.
  const doomed = new Set<string>();
  const stack = order.filter((v) => isFailure(state.get(v)!));
  while (stack.length) {
    for (const c of children.get(stack.pop()!) ?? []) {
      if (doomed.has(c)) continue;
      doomed.add(c);
      stack.push(c);
    }
  }
  const cancel = order.filter((v) => doomed.has(v) && RELEASABLE.has(state.get(v)!));
  for (const v of cancel) state.set(v, 'cancelled');

  // One pass in topological order reaches the fixpoint: a noop finished here is seen as
  // finished by every later vertex of the pass.
  const define: string[] = [];
  const finishNoop: string[] = [];
  for (const v of order) {
    const s = state.get(v)!;
    if (!RELEASABLE.has(s)) continue;
    if (!(parents.get(v) ?? []).every((p) => state.get(p) === 'finished')) continue;
    if (jobtype.get(v) === NOOP) {
      // A noop found `defined` (written by someone else) must still finish: nothing runs it.
      finishNoop.push(v);
      state.set(v, 'finished');
    } else if (s === 'template') {
      define.push(v);
      state.set(v, 'defined');
    }
  }

  return { define, finishNoop, cancel, workflowState: workflowState(order, state, jobtype) };
}

function isFailure(s: JobState): boolean {
  return TERMINAL.has(s) && s !== 'finished';
}

function workflowState(
  order: string[],
  state: Map<string, JobState>,
  jobtype: Map<string, string>,
): WorkflowState {
  const all = order.map((v) => state.get(v)!);
  const failures = all.filter(isFailure);
  if (failures.length) return failures.every((s) => s === 'cancelled') ? 'cancelled' : 'failed';
  if (all.every((s) => s === 'finished')) return 'finished';
  const started = order.some((v) => {
    const s = state.get(v)!;
    return jobtype.get(v) !== NOOP && s !== 'template' && s !== 'defined';
  });
  if (started) return 'running';
  return all.some((s) => s !== 'template') ? 'defined' : 'template';
}
