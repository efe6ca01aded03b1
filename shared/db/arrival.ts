import { createHash } from 'node:crypto';
import type { Announcement, DataState, Trigger } from '../core/data/data.ts';
import { stateOf } from '../core/data/data.ts';
import { datatypeOf } from '../core/data/datatype.ts';
import { dataId } from '../core/data/location.ts';
import { type FileFacts, ruleMatches, type TriggerRule, type WorkflowAction } from '../core/data/rule.ts';
import { sampledIn } from '../core/data/sampling.ts';
import { ValidationError } from '../core/errors.ts';
import type { JobSubmission } from '../core/job/job.ts';
import { arrivalDeltas } from '../core/stats/job-events.ts';
import { nowIso } from '../core/util/time.ts';
import { log } from '../log.ts';
import { appendTrigger, claimName, finishData, insertData, noteAnnouncement, reclaimData } from './data.ts';
import { listDatatypes } from './datatypes.ts';
import { createJobs } from './jobs.ts';
import { getJobtypes } from './jobtypes.ts';
import { listRules, takeWindowSlot } from './rules.ts';
import { StatsDelta } from './stats.ts';
import { createWorkflowForFile as startWorkflowForFile } from './workflows.ts';

/**
 * Data arrival (docs/design.md §6): register a file, and — only the first time its location is seen —
 * fire the enabled trigger rules that match it. Every source (S3 function, `POST /data` from
 * the XRootD hook, the directory watcher or a user) comes through `registerFiles`.
 */

/**
 * A file still `new` this long after its registration began was abandoned by a registration
 * that died between the Put and the triggers (Lambda timeouts are ≤ 30 s here); the next
 * announcement takes it over and fires the rules that have not run yet.
 */
export const RECLAIM_AFTER_MS = 60_000;

/** Files of one batch registered in parallel (each costs a few sequential writes). */
const CONCURRENCY = 8;

export interface RegisterResult {
  id: string;
  location: string;
  name: string;
  /** False when the location was registered before: nothing was created this time. */
  created: boolean;
  state: DataState;
  datatype?: string;
  jobs: string[];
  triggers: Trigger[];
}

interface Context {
  rules: TriggerRule[];
  datatypes: { name: string; ext: string }[];
  typeSampling: Map<string, number | undefined>;
  user?: string;
  stats: StatsDelta;
}

/**
 * Registers files (idempotent on the normalised location) and fires the rules for the new ones.
 * A repeated announcement only counts itself on the existing item and answers what the first
 * one did. Errors from DynamoDB propagate (the caller retries; the repeat is harmless).
 */
export async function registerFiles(
  files: readonly Announcement[],
  opts: { user?: string } = {},
): Promise<RegisterResult[]> {
  const [rules, datatypes] = await Promise.all([listRules(), listDatatypes()]);
  const enabled = rules.filter((r) => r.enabled);
  const types = enabled.flatMap((r) => ('jobs' in r.action ? r.action.jobs.map((j) => j.jobtype) : []));
  const jobtypes = types.length ? await getJobtypes(types) : new Map();
  const ctx: Context = {
    rules: enabled,
    datatypes,
    typeSampling: new Map([...jobtypes].map(([k, v]) => [k, v.sampling])),
    user: opts.user,
    stats: new StatsDelta(),
  };
  const results: RegisterResult[] = new Array(files.length);
  // The same location twice in one batch: the later ones wait for the first, then repeat.
  const firstOf = new Map<string, Promise<unknown>>();
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const i = next++;
      const f = files[i]!;
      const id = dataId(f.location);
      const prior = firstOf.get(id);
      const p = (async () => {
        if (prior) await prior.catch(() => undefined);
        results[i] = await registerOne(f, id, ctx);
      })();
      if (!prior) firstOf.set(id, p);
      await p;
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, files.length) }, worker));
  } finally {
    await ctx.stats.flush().catch((err) => log.warn('data counters not updated', { err: String(err) }));
  }
  return results;
}

async function registerOne(f: Announcement, id: string, ctx: Context): Promise<RegisterResult> {
  const nowMs = Date.now();
  const datatype = f.datatype ?? datatypeOf(f.name, ctx.datatypes);
  const facts: FileFacts & { id: string } = {
    id,
    location: f.location,
    name: f.name,
    size: f.size,
    datatype,
    source: f.source,
  };
  // Matching and sampling are pure: when they leave nothing to do, the file is stored in its
  // final state with one write.
  const settled = pureOutcomes(facts, ctx);
  const inserted = await insertData(
    {
      id,
      location: f.location,
      name: f.name,
      dirpath: f.dirpath,
      size: f.size,
      datatype,
      source: f.source,
      comment: f.comment,
      user: ctx.user,
    },
    nowMs,
    settled && { state: stateOf(settled), triggers: settled },
  );
  if (inserted)
    for (const d of arrivalDeltas(f.source, nowIso(nowMs))) ctx.stats.add(d.pk, d.sk, d.attr, d.n, d.ttlDays);
  if (inserted && settled) {
    ctx.stats.add('count', `data#${String(inserted.state)}`, 'n', 1);
    return resultOf(inserted, true);
  }
  let done: Trigger[] = [];
  if (!inserted) {
    const existing = await noteAnnouncement(id, nowMs);
    if (!existing) throw new Error(`data ${id} vanished while being announced again`);
    const stuck =
      existing.state === 'new' &&
      typeof existing.claimedAt === 'string' &&
      nowMs - Date.parse(existing.claimedAt) > RECLAIM_AFTER_MS &&
      (await reclaimData(id, existing.claimedAt, nowMs));
    if (!stuck) return resultOf(existing, false);
    done = (existing.triggers as Trigger[] | undefined) ?? [];
    log.warn('taking over a file whose registration did not finish', { id, location: f.location });
    // Facts as first registered (this announcement may carry another size or source).
    Object.assign(facts, {
      size: existing.size,
      datatype: existing.datatype,
      source: existing.source,
    });
  }
  const triggers = [...done, ...(await fireRules(facts, ctx, new Set(done.map((t) => t.rule)), nowMs))];
  const state = stateOf(triggers);
  const item = await finishData(id, {
    state,
    triggers,
    jobIds: triggers.flatMap((t) => t.jobs ?? []),
  });
  ctx.stats.add('count', `data#${state}`, 'n', 1);
  return resultOf(item, true);
}

function resultOf(item: Record<string, unknown>, created: boolean): RegisterResult {
  return {
    id: String(item.id),
    location: String(item.location),
    name: String(item.name),
    created,
    state: item.state as DataState,
    datatype: item.datatype as string | undefined,
    jobs: (item.jobIds as string[] | undefined) ?? [],
    triggers: (item.triggers as Trigger[] | undefined) ?? [],
  };
}

const nameHash = (name: string) => createHash('sha256').update(name).digest('hex').slice(0, 32);

/** The templates of a jobs rule that survive their job types' sampling (both by file name). */
function sampledTemplates(rule: TriggerRule, f: FileFacts, ctx: Context): JobSubmission[] {
  if (!('jobs' in rule.action)) return [];
  return rule.action.jobs.filter((j) => sampledIn(f.name, ctx.typeSampling.get(j.jobtype)));
}

/** Whether sampling alone (rule, then job types) keeps the rule from doing anything for this file. */
function sampledOut(rule: TriggerRule, f: FileFacts, ctx: Context): boolean {
  if (!sampledIn(f.name, rule.sampling)) return true;
  return 'jobs' in rule.action && !sampledTemplates(rule, f, ctx).length;
}

/**
 * The outcomes when no matching rule survives sampling (every outcome `sampled`, or no match at
 * all); undefined when some rule may create work and must run after the registration.
 */
function pureOutcomes(f: FileFacts, ctx: Context): Trigger[] | undefined {
  const out: Trigger[] = [];
  for (const rule of ctx.rules) {
    if (!ruleMatches(rule.match, f)) continue;
    if (!sampledOut(rule, f, ctx)) return undefined;
    out.push({ rule: rule.name, outcome: 'sampled' });
  }
  return out;
}

/** Applies every matching enabled rule (in name order) once; returns what each did. */
async function fireRules(
  f: FileFacts & { id: string },
  ctx: Context,
  skip: ReadonlySet<string>,
  nowMs: number,
): Promise<Trigger[]> {
  const matching = ctx.rules.filter((r) => !skip.has(r.name) && ruleMatches(r.match, f));
  const out: Trigger[] = [];
  for (const [i, rule] of matching.entries()) {
    const t = await fireRule(rule, f, ctx, nowMs);
    // The last outcome is stored with the final state; earlier ones at once (see RECLAIM_AFTER_MS).
    if (i < matching.length - 1) await appendTrigger(f.id, t);
    out.push(t);
  }
  return out;
}

async function fireRule(
  rule: TriggerRule,
  f: FileFacts & { id: string },
  ctx: Context,
  nowMs: number,
): Promise<Trigger> {
  const base = { rule: rule.name };
  if (sampledOut(rule, f, ctx)) return { ...base, outcome: 'sampled' };
  const templates = sampledTemplates(rule, f, ctx);
  if (rule.dedupe === 'name' && !(await claimName(rule.name, nameHash(f.name), nowMs)))
    return { ...base, outcome: 'duplicate', message: `a file named ${f.name} already triggered this rule` };
  if (rule.limit && !(await takeWindowSlot(rule.name, rule.limit, nowMs)))
    return {
      ...base,
      outcome: 'limited',
      message: `at most ${rule.limit.files} file(s) per ${rule.limit.window} s`,
    };
  try {
    if ('workflow' in rule.action) {
      const workflowId = await createWorkflowForFile(rule.action.workflow, rule, f);
      return { ...base, outcome: 'workflow', workflowId };
    }
    const jobs = await createJobs(templates, {
      user: rule.user,
      inputFile: f.location,
      extra: { dataId: f.id, rule: rule.name },
    });
    return { ...base, outcome: 'jobs', jobs: jobs.map((j) => j.id) };
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    log.warn('rule could not create its work', { rule: rule.name, location: f.location, err: err.message });
    return { ...base, outcome: 'error', message: err.message };
  }
}

/**
 * Hook point for workflow rules (`action.workflow`): creates and defines a workflow from
 * `action.dag` for the file (shared/db/workflows.ts; every job gets P3S_INPUT_FILE = the file's
 * location) and returns its id. An unknown DAG or bad fileinfo/jobinfo is a ValidationError,
 * recorded as the trigger's `error`.
 */
export async function createWorkflowForFile(
  action: WorkflowAction,
  rule: TriggerRule,
  file: FileFacts & { id: string },
): Promise<string> {
  return startWorkflowForFile(action, { rule: rule.name, user: rule.user, file });
}
