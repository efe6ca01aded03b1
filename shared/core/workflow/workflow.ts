import { z } from 'zod';
import { WorkflowState } from '../dag/advance.ts';
import { type Dag, DagName, parentsOf, validateDag } from '../dag/dag.ts';
import { parseGraphML } from '../dag/graphml.ts';
import type { WorkflowFile } from '../dag/instantiate.ts';
import { type JobState, TERMINAL } from '../job/job.ts';
import { csvOf } from '../util/csv.ts';

/**
 * Wiring of the pure DAG core (shared/core/dag) into stored DAG templates and workflows: the
 * API's input schemas, which job changes advance a workflow, and how a workflow's jobs and
 * files are shown together. Pure: no I/O.
 */

export { WorkflowState };

/** JSON text of the original fileinfo/jobinfo, an object, or a policy word (`sticky`, `inherit:X`). */
const InfoInput = z.union([z.string().max(64 * 1024), z.record(z.string(), z.unknown())]);

/**
 * `POST /dags`: GraphML text (the original format) or the JSON form, never both. `name` and
 * `description` override what the document says.
 */
export const DagUpload = z
  .strictObject({
    name: DagName.optional(),
    description: z.string().trim().max(1024).optional(),
    /** GraphML text; its own limit (1 MiB) is checked by the parser, with a message. */
    graphml: z
      .string()
      .min(1)
      .max(4 * 1024 * 1024)
      .optional(),
    dag: z.record(z.string(), z.unknown()).optional(),
  })
  .refine((b) => (b.graphml === undefined) !== (b.dag === undefined), {
    message: 'give exactly one of graphml (GraphML text) or dag (the JSON form)',
  });
export type DagUpload = z.infer<typeof DagUpload>;

/**
 * Turns an upload into a validated DAG. With `datatypes` (the registered names), edges with any
 * other datatype are rejected. Throws `ValidationError` naming the problem (malformed XML, a
 * cycle, a dangling edge, an unknown datatype …).
 */
export function dagFromUpload(body: DagUpload, datatypes?: Iterable<string>): Dag {
  if (body.graphml !== undefined) {
    return parseGraphML(body.graphml, { name: body.name, description: body.description, datatypes });
  }
  const dag = { ...body.dag };
  if (body.name !== undefined) dag.name = body.name;
  if (body.description !== undefined) dag.description = body.description;
  return validateDag(dag, { datatypes });
}

/** `POST /workflows`: the original `workflow.py -a DAG [-n name] [-s state] [-f fileinfo] [-j jobinfo]`. */
export const WorkflowCreate = z.strictObject({
  dag: DagName,
  name: z.string().trim().min(1).max(256).optional(),
  /** `template` (the original client's default) keeps it unreleased until `define`. */
  state: z.enum(['template', 'defined']).default('template'),
  fileinfo: InfoInput.optional(),
  jobinfo: InfoInput.optional(),
});
export type WorkflowCreate = z.infer<typeof WorkflowCreate>;

export const WorkflowId = z.object({ id: z.uuid('not a workflow id') });
export const DagNamePath = z.object({ name: DagName });

export const WorkflowListQuery = z.strictObject({
  state: csvOf(WorkflowState).optional(),
  dag: csvOf(DagName).optional(),
  user: csvOf(z.string().max(64)).optional(),
  since: z.iso.datetime({ offset: true }).optional(),
  until: z.iso.datetime({ offset: true }).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(2048).optional(),
});
export type WorkflowListQuery = z.infer<typeof WorkflowListQuery>;

/** Workflow states in the order they are reached; terminal ones share the last rank. */
const RANK: Record<WorkflowState, number> = {
  template: 0,
  defined: 1,
  running: 2,
  finished: 3,
  failed: 3,
  cancelled: 3,
};
export const isWorkflowEnded = (s: WorkflowState) => RANK[s] === 3;

/**
 * The states a workflow may be in for a move to `to` to be progress. A workflow's state only
 * moves forward and a terminal state is final, so an advancer that read older job states can
 * never overwrite a newer decision (the write is conditioned on this list).
 */
export function statesBefore(to: WorkflowState): WorkflowState[] {
  return WorkflowState.options.filter((s) => RANK[s] < RANK[to]);
}

/**
 * The workflow a job change should advance, if any: a workflow job that entered `running` (the
 * workflow becomes `running`) or a terminal state (its children may be released, or cancelled),
 * or a workflow job deleted before it ended (a deleted job counts as `cancelled`). Other
 * changes — creation as `template`, release to `defined`, dispatch, heartbeats, the deletion or
 * TTL purge of an ended job — decide nothing new.
 */
export function workflowToAdvance(
  old: Record<string, unknown> | undefined,
  now: Record<string, unknown> | undefined,
): string | undefined {
  if (!now) {
    const gone = old?.workflowId;
    const was = old?.state as JobState | undefined;
    return typeof gone === 'string' && gone && was && !TERMINAL.has(was) ? gone : undefined;
  }
  const id = now.workflowId;
  if (typeof id !== 'string' || !id) return undefined;
  const state = now.state as JobState | undefined;
  if (!state || state === old?.state) return undefined;
  return state === 'running' || TERMINAL.has(state) ? id : undefined;
}

/**
 * Why a job is cancelled: the failed jobs among its ancestors, e.g.
 * `cancelled: upstream job filter2 ended failed`.
 */
export function cancelMessage(dag: Dag, vertex: string, states: Readonly<Record<string, JobState>>): string {
  const parents = parentsOf(dag);
  const seen = new Set<string>();
  const stack = [...(parents.get(vertex) ?? [])];
  const failed: string[] = [];
  while (stack.length) {
    const v = stack.pop()!;
    if (seen.has(v)) continue;
    seen.add(v);
    const s = states[v];
    if (s && TERMINAL.has(s) && s !== 'finished' && s !== 'cancelled') failed.push(`${v} ended ${s}`);
    stack.push(...(parents.get(v) ?? []));
  }
  return failed.length
    ? `cancelled: upstream job ${failed.sort().join(', ')}`
    : 'cancelled: an upstream job did not finish';
}

/** A file on one of a job's edges, as `workflow show` lists it. */
export interface EdgeFile {
  /** The file's id (the stem of default names). */
  id: string;
  /** The job at the other end of the edge. */
  peer: string;
  datatag: string;
  path: string;
}

/** The files on each vertex's edges: `inputs` (edges into it) and `outputs` (edges out of it). */
export function filesByVertex(
  files: readonly Pick<WorkflowFile, 'id' | 'source' | 'target' | 'datatag' | 'path'>[],
): Map<string, { inputs: EdgeFile[]; outputs: EdgeFile[] }> {
  const out = new Map<string, { inputs: EdgeFile[]; outputs: EdgeFile[] }>();
  const slot = (v: string) => {
    const s = out.get(v) ?? { inputs: [], outputs: [] };
    out.set(v, s);
    return s;
  };
  for (const f of files) {
    slot(f.source).outputs.push({ id: f.id, peer: f.target, datatag: f.datatag, path: f.path });
    slot(f.target).inputs.push({ id: f.id, peer: f.source, datatag: f.datatag, path: f.path });
  }
  return out;
}

/** Job states a workflow job may still leave by the advancer (release, noop finish, cancel). */
export const WAITING: readonly JobState[] = ['template', 'defined'];

/**
 * A workflow's start and end times from its jobs, not from when the advancer ran: the advancer
 * sees a batch of job changes a second or more late, and a short workflow's jobs often start
 * and end within one batch, so "now" made `startedAt` equal `endedAt`. Started: the earliest
 * job start; ended: the latest job end (`now` for jobs this step itself ended).
 */
export function workflowTimes(
  jobs: readonly { startedAt?: string; endedAt?: string }[],
  now: string,
  endedNow: boolean,
): { startedAt: string; endedAt: string } {
  const starts = jobs.flatMap((j) => (j.startedAt ? [j.startedAt] : [])).sort();
  const ends = [...jobs.flatMap((j) => (j.endedAt ? [j.endedAt] : [])), ...(endedNow ? [now] : [])].sort();
  const startedAt = starts[0] ?? ends[0] ?? now;
  const endedAt = ends[ends.length - 1] ?? now;
  return { startedAt, endedAt: [startedAt, endedAt].sort()[1]! };
}
