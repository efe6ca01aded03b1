import { randomUUID } from 'node:crypto';
import { posix } from 'node:path';
import { z } from 'zod';
import type { Datatype } from '../data/datatype.ts';
import { ValidationError } from '../errors.ts';
import { Env, PRIORITY_MAX, PRIORITY_MIN } from '../job/job.ts';
import { type Dag, edgeLabel, MAX_TIMELIMIT, NOOP } from './dag.ts';

/**
 * Instantiation of a DAG template into a workflow (p3s-original §9.2): one job per vertex,
 * one file per edge, each file's path wired into the env of both ends under the edge's
 * datatag. Pure: the caller stores the result.
 */

/** Per-edge override in a fileinfo JSON object, keyed `source:target` or `source:target:k`. */
const FileOverride = z.strictObject({
  name: z.string().trim().min(1).max(256).optional(),
  dirpath: z.string().trim().max(1024).optional(),
  comment: z.string().trim().max(1024).optional(),
});
type FileOverride = z.output<typeof FileOverride>;

/** Per-vertex override in a jobinfo JSON object, keyed by vertex name. `env` is merged. */
const JobOverride = z.strictObject({
  payload: z.string().trim().max(4096).optional(),
  env: Env.optional(),
  priority: z.number().int().min(PRIORITY_MIN).max(PRIORITY_MAX).optional(),
  timelimit: z.number().int().min(1).max(MAX_TIMELIMIT).optional(),
});
type JobOverride = z.output<typeof JobOverride>;

type DatatypeExt = Pick<Datatype, 'ext'>;

export interface InstantiateOptions {
  workflowId: string;
  /** Registered datatypes by name (only `ext`, with its dot, is used). Every edge's must be here. */
  datatypes: ReadonlyMap<string, DatatypeExt> | Readonly<Record<string, DatatypeExt>>;
  /**
   * File naming policy: `''`/absent → `<uuid><ext>`; `'sticky'` → the edge's `name`;
   * `'inherit:X'` → `X:<dag>:<source>:<datatag><ext>`; a JSON object (or its text) keyed
   * `source:target` (all edges of that pair) or `source:target:k` (the k-th, from 0, in
   * DAG order) → `{name?, dirpath?, comment?}` for those edges, the default for the others.
   */
  fileinfo?: string | Record<string, unknown> | null;
  /** JSON object (or its text) keyed by vertex → `{payload?, env?, priority?, timelimit?}`. */
  jobinfo?: string | Record<string, unknown> | null;
  /** Fresh id per edge; it is also the stem of default file names. Injected by tests. */
  newId?: () => string;
}

/** A job to create in state `template`; `name` is the vertex name, as in the original. */
interface WorkflowJob {
  workflowId: string;
  vertex: string;
  name: string;
  jobtype: string;
  payload: string;
  env: Record<string, string>;
  timelimit: number;
  priority: number;
  state: 'template';
}

/** The file an edge stands for. `path` is what the jobs at both ends see under `datatag`. */
export interface WorkflowFile {
  id: string;
  workflowId: string;
  /** Index of the edge in `dag.edges`; tells parallel edges apart. */
  edge: number;
  source: string;
  target: string;
  datatype: string;
  datatag: string;
  name: string;
  dirpath: string;
  comment: string;
  path: string;
}

export interface WorkflowInstance {
  workflowId: string;
  dag: string;
  jobs: WorkflowJob[];
  files: WorkflowFile[];
}

type FilePolicy =
  | { kind: 'uuid' }
  | { kind: 'sticky' }
  | { kind: 'inherit'; prefix: string }
  | { kind: 'map'; map: Map<string, FileOverride> };

/**
 * Builds the jobs and files of a new workflow from a validated DAG, applying the fileinfo
 * and jobinfo policies. Throws `ValidationError` for an unknown datatype, bad fileinfo or
 * jobinfo (unparseable, unknown vertex or edge key, unknown field), a sticky edge without a
 * name, an empty payload left on a non-noop job, or a job that would get two different
 * paths under one datatag.
 */
export function instantiate(dag: Dag, options: InstantiateOptions): WorkflowInstance {
  const { workflowId } = options;
  const newId = options.newId ?? randomUUID;
  const policy = filePolicy(dag, options.fileinfo);
  const jobinfo = parseJobInfo(dag, options.jobinfo);

  const jobs = dag.vertices.map((v): WorkflowJob => {
    const o = jobinfo.get(v.name) ?? {};
    const job: WorkflowJob = {
      workflowId,
      vertex: v.name,
      name: v.name,
      jobtype: v.jobtype,
      payload: o.payload ?? v.payload,
      // Merged, not replaced as in the original: an override of one variable keeps the rest.
      env: { ...v.env, ...o.env },
      timelimit: o.timelimit ?? v.timelimit,
      priority: o.priority ?? v.priority,
      state: 'template',
    };
    if (job.jobtype !== NOOP && job.payload === '') {
      throw new ValidationError(`jobinfo: vertex ${v.name} would have an empty payload`);
    }
    return job;
  });
  const jobByVertex = new Map(jobs.map((j) => [j.vertex, j]));

  const pairCount = new Map<string, number>();
  const files = dag.edges.map((e, i): WorkflowFile => {
    const label = edgeLabel(i, e.source, e.target);
    const ext = lookup(options.datatypes, e.datatype)?.ext;
    if (ext === undefined) throw new ValidationError(`${label}: unknown datatype ${e.datatype}`);
    const pair = `${e.source}:${e.target}`;
    const k = pairCount.get(pair) ?? 0;
    pairCount.set(pair, k + 1);

    const id = newId();
    let name = `${id}${ext}`;
    let { dirpath, comment } = e;
    if (policy.kind === 'sticky') {
      if (!e.name) throw new ValidationError(`fileinfo sticky: ${label} has no name`);
      name = e.name;
    } else if (policy.kind === 'inherit') {
      name = `${policy.prefix}:${dag.name}:${e.source}:${e.datatag}${ext}`;
    } else if (policy.kind === 'map') {
      // The indexed entry refines the pair's entry, field by field.
      const o = { ...policy.map.get(pair), ...policy.map.get(`${pair}:${k}`) };
      name = o.name ?? name;
      dirpath = o.dirpath ?? dirpath;
      comment = o.comment ?? comment;
    }
    return {
      id,
      workflowId,
      edge: i,
      source: e.source,
      target: e.target,
      datatype: e.datatype,
      datatag: e.datatag,
      name,
      dirpath,
      comment,
      path: joinPath(dirpath, name),
    };
  });

  // An edge's path overrides a same-named variable from the vertex env (as in the original),
  // but two edges must not give one job two different paths under one datatag: one end
  // would read a file the other never wrote. Noop jobs never run, so for them last wins.
  const wired = new Set<string>();
  for (const f of files) {
    if (!f.datatag) continue;
    for (const vertex of [f.source, f.target]) {
      const job = jobByVertex.get(vertex)!;
      const before = job.env[f.datatag];
      const slot = `${vertex}\n${f.datatag}`;
      if (wired.has(slot) && before !== f.path && job.jobtype !== NOOP) {
        throw new ValidationError(
          `vertex ${vertex}: datatag ${f.datatag} would be both ${before} and ${f.path}; ` +
            'give those edges one file (fileinfo sticky or a JSON entry) or different datatags',
        );
      }
      wired.add(slot);
      job.env[f.datatag] = f.path;
    }
  }
  return { workflowId, dag: dag.name, jobs, files };
}

/**
 * Joins a directory and a file name with `path.posix.join` semantics, so a missing or doubled
 * `/` no longer matters (the original concatenated them). URLs (`root://host//eos/…`,
 * `s3://bucket/prefix`) are not normalised: the `//` after the host is meaningful to XRootD.
 */
export function joinPath(dirpath: string, name: string): string {
  if (dirpath === '') return name;
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(dirpath)) {
    return `${dirpath.replace(/\/+$/, '')}/${name.replace(/^\/+/, '')}`;
  }
  return posix.join(dirpath, name);
}

function filePolicy(dag: Dag, fileinfo: InstantiateOptions['fileinfo']): FilePolicy {
  if (typeof fileinfo === 'string') {
    const s = fileinfo.trim();
    if (s === '') return { kind: 'uuid' };
    if (s === 'sticky') return { kind: 'sticky' };
    if (s.startsWith('inherit:')) {
      const prefix = s.slice('inherit:'.length).trim();
      if (!prefix) throw new ValidationError('fileinfo inherit: needs a name after the colon');
      return { kind: 'inherit', prefix };
    }
    // Anything else must be JSON; the original silently fell back to uuid names instead.
    if (!s.startsWith('{')) {
      throw new ValidationError(`fileinfo "${s}": expected '', 'sticky', 'inherit:NAME' or a JSON object`);
    }
  }
  const obj = jsonObject(fileinfo, 'fileinfo');
  if (!obj) return { kind: 'uuid' };
  const parsed = z.record(z.string(), FileOverride).safeParse(obj);
  if (!parsed.success) throw zodFailure('fileinfo', parsed.error);

  const valid = new Set<string>();
  const count = new Map<string, number>();
  for (const e of dag.edges) {
    const pair = `${e.source}:${e.target}`;
    const k = count.get(pair) ?? 0;
    count.set(pair, k + 1);
    valid.add(pair).add(`${pair}:${k}`);
  }
  const map = new Map<string, FileOverride>();
  for (const [key, o] of Object.entries(parsed.data)) {
    if (!valid.has(key)) throw new ValidationError(`fileinfo: DAG ${dag.name} has no edge ${key}`);
    map.set(key, o);
  }
  return { kind: 'map', map };
}

function parseJobInfo(dag: Dag, jobinfo: InstantiateOptions['jobinfo']): Map<string, JobOverride> {
  const obj = jsonObject(jobinfo, 'jobinfo');
  const out = new Map<string, JobOverride>();
  if (!obj) return out;
  const parsed = z.record(z.string(), JobOverride).safeParse(obj);
  if (!parsed.success) throw zodFailure('jobinfo', parsed.error);
  const vertices = new Set(dag.vertices.map((v) => v.name));
  for (const [vertex, o] of Object.entries(parsed.data)) {
    if (!vertices.has(vertex)) throw new ValidationError(`jobinfo: DAG ${dag.name} has no vertex ${vertex}`);
    out.set(vertex, o);
  }
  return out;
}

/** An object, JSON text of one, or nothing (`undefined`, `null`, blank text). */
function jsonObject(value: unknown, what: string): Record<string, unknown> | undefined {
  let v = value;
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') {
    if (v.trim() === '') return undefined;
    try {
      v = JSON.parse(v);
    } catch (err) {
      throw new ValidationError(`${what} is not valid JSON (${(err as Error).message})`);
    }
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new ValidationError(`${what} must be a JSON object`);
  }
  return v as Record<string, unknown>;
}

function zodFailure(what: string, error: z.ZodError): ValidationError {
  const first = error.issues[0];
  const path = first?.path.map(String).join('.') ?? '';
  return new ValidationError(`${what}${path ? ` ${path}` : ''}: ${first?.message ?? 'invalid'}`, {
    issues: error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })),
  });
}

function lookup<T>(m: ReadonlyMap<string, T> | Readonly<Record<string, T>>, key: string): T | undefined {
  if (m instanceof Map) return m.get(key);
  const rec = m as Readonly<Record<string, T>>;
  // Own properties only: a datatype called `constructor` must not find Object.prototype's.
  return Object.hasOwn(rec, key) ? rec[key] : undefined;
}
