import { z } from 'zod';
import { JobSubmission } from '../job/job.ts';
import { DatatypeName } from './datatype.ts';
import { globMatches } from './glob.ts';
import { Source } from './location.ts';
import { DurationInput, SizeInput } from './units.ts';

/**
 * Trigger rules (docs/design.md §3, §6): what to create when a file arrives. A rule has a `match`
 * (all given conditions must hold), an `action` (jobs from a job template, or a workflow from a
 * DAG), a `sampling` fraction, an optional `limit` of files per time window and a `dedupe` mode.
 *
 * ```json
 * { "name": "hitmonitor",
 *   "match": { "pattern": "np04_raw_*.root", "minSize": "3900M", "source": ["xrootd", "watch"] },
 *   "action": [ { "name": "hm", "jobtype": "monitor", "payload": "/opt/dqm/hm.sh", "env": {} } ],
 *   "sampling": 0.25, "limit": { "files": 3, "window": "20m" } }
 * ```
 */

export const RuleName = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1–64 characters of letters, digits, _ . -');

const MAX_TEMPLATES_PER_RULE = 50;

const oneOrMany = <T extends z.ZodType>(s: T) =>
  z.union([s, z.array(s).min(1)]).transform((v) => (Array.isArray(v) ? v : [v]) as z.output<T>[]);

export const RuleMatch = z.strictObject({
  /** Glob on the file name (`np04_raw_*.root`, `*.{txt,dat}`). */
  pattern: z.string().min(1).max(256).optional(),
  /** JavaScript regular expression on the file name. */
  regex: z
    .string()
    .min(1)
    .max(256)
    .refine((r) => {
      try {
        new RegExp(r);
        return true;
      } catch {
        return false;
      }
    }, 'is not a valid regular expression')
    .optional(),
  /** The (normalised) location starts with this: a directory, bucket prefix or server URL. */
  under: z.string().min(1).max(4096).optional(),
  /** The file's datatype (given at registration, or derived from its extension). */
  datatype: oneOrMany(DatatypeName).optional(),
  /** At least this many bytes (`3900M`); a file of unknown size does not match. */
  minSize: SizeInput.optional(),
  /** How the file was announced. */
  source: oneOrMany(Source).optional(),
});
export type RuleMatch = z.output<typeof RuleMatch>;

const Templates = z.array(JobSubmission).min(1).max(MAX_TEMPLATES_PER_RULE);

/** JSON of the original fileinfo/jobinfo: an object, or its text (or a policy word like `sticky`). */
const InfoInput = z.union([z.string().max(64 * 1024), z.record(z.string(), z.unknown())]);

export const WorkflowAction = z.strictObject({
  /** DAG template name. */
  dag: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be 1–64 characters of letters, digits, _ . : -'),
  /** The original's fileinfo (file naming policy) and jobinfo (per-vertex overrides). */
  fileinfo: InfoInput.optional(),
  jobinfo: InfoInput.optional(),
  /** Workflow name; default `<dag>:<file name>`. */
  name: z.string().trim().min(1).max(256).optional(),
});
export type WorkflowAction = z.output<typeof WorkflowAction>;

type RuleAction = { jobs: JobSubmission[] } | { workflow: WorkflowAction };

/**
 * The action: the original job JSON list (each job gets `P3S_INPUT_FILE` = the file's
 * location), `{ "jobs": [...] }`, or `{ "workflow": { "dag", "fileinfo", "jobinfo" } }`.
 */
const RuleActionInput = z.unknown().transform((v, ctx): RuleAction => {
  const forward = (r: z.ZodSafeParseResult<unknown>, prefix: (string | number)[]) => {
    for (const i of r.error!.issues)
      ctx.addIssue({
        code: 'custom',
        message: i.message,
        path: [...prefix, ...(i.path as (string | number)[])],
      });
    return z.NEVER;
  };
  if (Array.isArray(v)) {
    const r = Templates.safeParse(v);
    return r.success ? { jobs: r.data } : forward(r, []);
  }
  if (v && typeof v === 'object' && 'jobs' in v) {
    const r = z.strictObject({ jobs: Templates }).safeParse(v);
    return r.success ? r.data : forward(r, []);
  }
  if (v && typeof v === 'object' && 'workflow' in v) {
    const r = z.strictObject({ workflow: WorkflowAction }).safeParse(v);
    return r.success ? r.data : forward(r, []);
  }
  ctx.addIssue({
    code: 'custom',
    message: 'must be a job list, {"jobs": [...]} or {"workflow": {"dag": ...}}',
  });
  return z.NEVER;
});

const RuleLimit = z.strictObject({
  /** At most this many files trigger the rule … */
  files: z.number().int().min(1).max(1_000_000),
  /** … per window of this many seconds (fixed windows aligned to the epoch). */
  window: DurationInput.pipe(
    z
      .number()
      .int('must be whole seconds')
      .min(1)
      .max(7 * 86400),
  ),
});

/** A rule as submitted (`POST /rules`, `p3s rule add`). */
export const RuleInput = z.strictObject({
  name: RuleName,
  comment: z.string().trim().max(1024).optional(),
  enabled: z.boolean().default(true),
  match: RuleMatch.default({}),
  action: RuleActionInput,
  /** Fraction of matching files that trigger (deterministic by file name). */
  sampling: z.number().min(0).max(1).default(1),
  limit: RuleLimit.optional(),
  /**
   * `location` (default): a file triggers once, however often it is announced.
   * `name`: also once per file *name* for this rule, whatever the location — the original
   * tscan's dedup, for a file that arrives by two paths (e.g. XRootD and a watched directory).
   */
  dedupe: z.enum(['location', 'name']).default('location'),
});
export type RuleInput = z.output<typeof RuleInput>;

/** A stored rule. */
export interface TriggerRule extends RuleInput {
  user?: string;
  createdAt: string;
  updatedAt: string;
}

/** What a rule's match sees of a file. */
export interface FileFacts {
  location: string;
  name: string;
  size?: number;
  datatype?: string;
  source: Source;
}

const regexCache = new Map<string, RegExp>();
function regex(r: string): RegExp {
  let re = regexCache.get(r);
  if (!re) {
    re = new RegExp(r);
    if (regexCache.size > 1000) regexCache.clear();
    regexCache.set(r, re);
  }
  return re;
}

/** Whether every condition of `m` holds for the file. */
export function ruleMatches(m: RuleMatch, f: FileFacts): boolean {
  if (m.pattern !== undefined && !globMatches(m.pattern, f.name)) return false;
  if (m.regex !== undefined && !regex(m.regex).test(f.name)) return false;
  if (m.under !== undefined && !f.location.startsWith(m.under)) return false;
  if (m.datatype !== undefined && (f.datatype === undefined || !m.datatype.includes(f.datatype)))
    return false;
  if (m.minSize !== undefined && (f.size === undefined || f.size < m.minSize)) return false;
  if (m.source !== undefined && !m.source.includes(f.source)) return false;
  return true;
}

/** Start of the fixed window containing `nowMs`, as an ISO string (the counter item's key). */
export function windowStart(windowSec: number, nowMs: number): string {
  const w = windowSec * 1000;
  return new Date(Math.floor(nowMs / w) * w).toISOString();
}
