import { z } from 'zod';
import { DatatypeName } from '../data/datatype.ts';
import { ValidationError } from '../errors.ts';
import { Env, JobtypeName, MAX_TIMELIMIT, PRIORITY_MAX, PRIORITY_MIN } from '../job/job.ts';

/**
 * DAG templates (docs/design.md §3, §6): vertices are jobs, edges are files. One schema serves both
 * the JSON form users upload and what `parseGraphML` produces, so both go through the same
 * checks in `validateDag`.
 */

/** The pseudo job type of entry/exit vertices: never dispatched, finished as soon as released. */
export const NOOP = 'noop';
export const MAX_VERTICES = 500;
export const MAX_EDGES = 2000;
export { MAX_TIMELIMIT };

/** The original's default vertex time limit, in seconds. */
const DEFAULT_TIMELIMIT = 1000;

const NAME_RULE = 'must be 1–64 characters of letters, digits, _ . : -';
// Vertex names and datatags end up as keys of plain objects (job env, state maps), where
// `__proto__` would silently vanish instead of being stored.
const notProto = (s: string) => s !== '__proto__';
/** DAG and vertex names. Vertex names become job names and appear in fileinfo keys. */
export const DagName = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9_.:-]{1,64}$/, NAME_RULE)
  .refine(notProto, 'is reserved');
/** A datatag names the environment variable that carries the edge's file path, so it must be one. */
const Datatag = z
  .string()
  .trim()
  .regex(/^([A-Za-z_][A-Za-z0-9_]{0,127})?$/, 'must be an environment variable name (or empty)')
  .refine(notProto, 'is reserved');

const DagVertex = z.strictObject({
  name: DagName,
  jobtype: JobtypeName,
  payload: z.string().trim().max(4096).default(''),
  env: Env.default({}),
  timelimit: z.number().int().min(0).max(MAX_TIMELIMIT).default(DEFAULT_TIMELIMIT),
  priority: z.number().int().min(PRIORITY_MIN).max(PRIORITY_MAX).default(0),
});

const DagEdge = z.strictObject({
  source: DagName,
  target: DagName,
  /** The file name used by fileinfo `sticky`; otherwise informational. */
  name: z.string().trim().max(256).default(''),
  dirpath: z.string().trim().max(1024).default(''),
  datatype: DatatypeName,
  datatag: Datatag.default(''),
  comment: z.string().trim().max(1024).default(''),
});

export const Dag = z.strictObject({
  name: DagName,
  description: z.string().trim().max(1024).default(''),
  vertices: z.array(DagVertex).min(1).max(MAX_VERTICES),
  edges: z.array(DagEdge).max(MAX_EDGES).default([]),
});
export type Dag = z.output<typeof Dag>;
/** The JSON form as users may write it: defaults may be left out, env may be JSON text. */
export type DagInput = z.input<typeof Dag>;

export interface ValidateDagOptions {
  /**
   * Names of the registered datatypes. When given, an edge with any other datatype is
   * rejected (the original deleted the half-made workflow at instantiation instead).
   */
  datatypes?: Iterable<string>;
}

/** How errors name an edge: its 1-based position in the document and its ends. */
export function edgeLabel(index: number, source: unknown, target: unknown): string {
  return `edge ${index + 1} (${String(source)}→${String(target)})`;
}

/**
 * Checks a DAG in JSON form (or as built by `parseGraphML`) and returns it with defaults
 * applied. Throws `ValidationError` naming the first problem: a bad field, a duplicate
 * vertex, an edge to an unknown vertex, an unknown datatype, an empty payload on a
 * non-noop vertex, or a cycle.
 */
export function validateDag(input: unknown, options: ValidateDagOptions = {}): Dag {
  const parsed = Dag.safeParse(input);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({
      path: i.path.map(String).join('.'),
      message: i.message,
    }));
    const first = parsed.error.issues[0];
    throw new ValidationError(first ? describeIssue(input, first) : 'invalid DAG', { issues });
  }
  const dag = parsed.data;

  const names = new Set<string>();
  for (const v of dag.vertices) {
    if (names.has(v.name)) throw new ValidationError(`duplicate vertex name ${v.name}`);
    names.add(v.name);
    if (v.jobtype !== NOOP && v.payload === '') {
      throw new ValidationError(`vertex ${v.name}: empty payload (only ${NOOP} vertices may have none)`);
    }
    // A real job with no time at all would be killed at start; noop vertices conventionally carry 0.
    if (v.jobtype !== NOOP && v.timelimit < 1) {
      throw new ValidationError(`vertex ${v.name}: timelimit must be at least 1 second`);
    }
  }

  const known = options.datatypes ? new Set(options.datatypes) : undefined;
  dag.edges.forEach((e, i) => {
    const label = edgeLabel(i, e.source, e.target);
    if (!names.has(e.source)) throw new ValidationError(`${label}: unknown source ${e.source}`);
    if (!names.has(e.target)) throw new ValidationError(`${label}: unknown target ${e.target}`);
    if (known && !known.has(e.datatype))
      throw new ValidationError(`${label}: unknown datatype ${e.datatype}`);
  });

  topoSort(dag);
  return dag;
}

/** Names a zod issue by vertex name or edge ends rather than by array index. */
function describeIssue(input: unknown, issue: z.core.$ZodIssue): string {
  const [top, index, ...rest] = issue.path;
  const field = rest.length ? `${rest.map(String).join('.')}: ` : '';
  if (typeof index === 'number' && (top === 'vertices' || top === 'edges') && isRecord(input)) {
    const list = input[top];
    const item = Array.isArray(list) ? (list[index] as unknown) : undefined;
    const rec = isRecord(item) ? item : {};
    if (top === 'vertices') {
      const name = typeof rec.name === 'string' ? rec.name : `#${index + 1}`;
      return `vertex ${name}: ${field}${issue.message}`;
    }
    return `${edgeLabel(index, rec.source ?? '?', rec.target ?? '?')}: ${field}${issue.message}`;
  }
  const path = issue.path.map(String).join('.');
  return path ? `${path}: ${issue.message}` : issue.message;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Parent vertex names of each vertex, one entry per edge (parallel edges repeat a parent). */
export function parentsOf(dag: Dag): Map<string, string[]> {
  const m = new Map<string, string[]>(dag.vertices.map((v) => [v.name, []]));
  for (const e of dag.edges) m.get(e.target)?.push(e.source);
  return m;
}

/** Child vertex names of each vertex, one entry per edge. */
export function childrenOf(dag: Dag): Map<string, string[]> {
  const m = new Map<string, string[]>(dag.vertices.map((v) => [v.name, []]));
  for (const e of dag.edges) m.get(e.source)?.push(e.target);
  return m;
}

/** Vertices without parents, in declaration order. A DAG may have several. */
export function roots(dag: Dag): string[] {
  const parents = parentsOf(dag);
  return dag.vertices.filter((v) => parents.get(v.name)?.length === 0).map((v) => v.name);
}

/**
 * Topological order of the vertex names (Kahn's algorithm, ties broken by declaration order,
 * so the result is stable). Throws `ValidationError` "cycle: a → b → a" if there is a cycle.
 */
export function topoSort(dag: Dag): string[] {
  const parents = parentsOf(dag);
  const children = childrenOf(dag);
  const indegree = new Map<string, number>();
  for (const [v, ps] of parents) indegree.set(v, ps.length);

  const queue = dag.vertices.filter((v) => indegree.get(v.name) === 0).map((v) => v.name);
  const order: string[] = [];
  for (let i = 0; i < queue.length; i++) {
    const v = queue[i]!;
    order.push(v);
    for (const c of children.get(v) ?? []) {
      const d = (indegree.get(c) ?? 0) - 1;
      indegree.set(c, d);
      if (d === 0) queue.push(c);
    }
  }
  if (order.length < dag.vertices.length) {
    throw new ValidationError(`cycle: ${findCycle(parents, indegree).join(' → ')}`);
  }
  return order;
}

/**
 * Every vertex left with indegree > 0 after Kahn's algorithm has a parent that is also left,
 * so walking up from any of them must revisit a vertex: that loop is a cycle.
 */
function findCycle(parents: Map<string, string[]>, indegree: Map<string, number>): string[] {
  const left = (v: string) => (indegree.get(v) ?? 0) > 0;
  let v = [...indegree.keys()].find(left)!;
  const seen = new Map<string, number>();
  const walk: string[] = [];
  while (!seen.has(v)) {
    seen.set(v, walk.length);
    walk.push(v);
    v = (parents.get(v) ?? []).find(left)!;
  }
  // walk goes child → parent; reverse it to read in edge direction, start it at the vertex
  // declared first (so the message does not depend on where the walk began) and close it.
  const loop = walk.slice(seen.get(v)).reverse();
  const rank = [...indegree.keys()];
  const start = loop.reduce((best, x, i) => (rank.indexOf(x) < rank.indexOf(loop[best]!) ? i : best), 0);
  const rotated = [...loop.slice(start), ...loop.slice(0, start)];
  return [...rotated, rotated[0]!];
}
