import { createHash } from 'node:crypto';
import { config } from '../config.ts';
import type { Announcement, DataState, Trigger } from '../core/data/data.ts';
import { stateOf } from '../core/data/data.ts';
import { datatypeOf } from '../core/data/datatype.ts';
import { dataId } from '../core/data/location.ts';
import { type FileFacts, ruleMatches, type TriggerRule, type WorkflowAction } from '../core/data/rule.ts';
import { sampledIn } from '../core/data/sampling.ts';
import { ValidationError } from '../core/errors.ts';
import type { JobSubmission } from '../core/job/job.ts';
import { arrivalDeltas } from '../core/stats/job-events.ts';
import { uuidFrom } from '../core/util/ids.ts';
import { nowIso } from '../core/util/time.ts';
import { log } from '../log.ts';
import {
  appendTrigger,
  claimName,
  finishData,
  insertData,
  noteAnnouncement,
  pendingData,
  reclaimData,
} from './data.ts';
import { listDatatypes } from './datatypes.ts';
import { createJobs, existingJobIds } from './jobs.ts';
import { getJobtypes } from './jobtypes.ts';
import { listRules, takeWindowSlot } from './rules.ts';
import { StatsDelta } from './stats.ts';
import { createWorkflowForFile as startWorkflowForFile } from './workflow-runner.ts';
import { workflowExists } from './workflow-store.ts';

/**
 * Data arrival (docs/design.md §6): register a file, and — only the first time its location is seen —
 * fire the enabled trigger rules that match it. Every source (S3 function, `POST /data` from
 * the XRootD hook, the directory watcher or a user) comes through `registerFiles`.
 */

/**
 * A file still `new` `P3S_DATA_RECLAIM_AFTER` seconds (60 by default) after its registration
 * began was abandoned by a registration that died between the Put and the triggers (Lambda
 * timeouts are ≤ 30 s here): the sweeper (shared/db/sweeper.ts), or the next announcement if it
 * comes first, takes it over and fires the rules that have not recorded an outcome. Work a dead
 * attempt created but did not record is found again, not made twice: a rule's jobs and
 * workflow have ids derived from (file, rule) and are written conditionally.
 */
const reclaimAfterMs = () => config().P3S_DATA_RECLAIM_AFTER * 1000;

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
  /** A takeover: before taking a dedupe claim or a window slot, look for work already made. */
  resumed?: boolean;
}

/** What rules, datatypes and job type sampling a registration (or a takeover) works with. */
async function contextFor(user: string | undefined): Promise<Context> {
  const [rules, datatypes] = await Promise.all([listRules(), listDatatypes()]);
  const enabled = rules.filter((r) => r.enabled);
  const types = enabled.flatMap((r) => ('jobs' in r.action ? r.action.jobs.map((j) => j.jobtype) : []));
  const jobtypes = types.length ? await getJobtypes(types) : new Map();
  return {
    rules: enabled,
    datatypes,
    typeSampling: new Map([...jobtypes].map(([k, v]) => [k, v.sampling])),
    user,
    stats: new StatsDelta(),
  };
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
  const ctx = await contextFor(opts.user);
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
  if (!inserted) {
    const existing = await noteAnnouncement(id, nowMs);
    if (!existing) throw new Error(`data ${id} vanished while being announced again`);
    const taken = abandoned(existing, nowMs)
      ? await reclaimData(id, String(existing.claimedAt), nowMs)
      : undefined;
    if (!taken) return resultOf(existing, false);
    return resultOf(await resume(taken, ctx, nowMs), true);
  }
  return resultOf(await runRules(facts, [], ctx, nowMs), true);
}

/** Whether a file's registration began long enough ago to count as dead. */
function abandoned(item: Record<string, unknown>, nowMs: number): boolean {
  return (
    item.state === 'new' &&
    typeof item.claimedAt === 'string' &&
    nowMs - Date.parse(item.claimedAt) > reclaimAfterMs()
  );
}

/** Fires the matching rules not in `done`, then records every outcome and the file's final state. */
async function runRules(
  facts: FileFacts & { id: string },
  done: Trigger[],
  ctx: Context,
  nowMs: number,
): Promise<Record<string, unknown>> {
  const skip = new Set(done.map((t) => t.rule));
  const triggers = [...done, ...(await fireRules(facts, ctx, skip, nowMs))];
  const state = stateOf(triggers);
  const item = await finishData(facts.id, {
    state,
    triggers,
    jobIds: triggers.flatMap((t) => t.jobs ?? []),
  });
  ctx.stats.add('count', `data#${state}`, 'n', 1);
  return item;
}

/**
 * Finishes a registration taken over (by `reclaimData`) from one that died: the rules that
 * recorded no outcome run again, with the file's facts as first registered (a re-announcement
 * may carry another size or source). Work the dead attempt created is found, not duplicated.
 */
async function resume(
  item: Record<string, unknown>,
  ctx: Context,
  nowMs: number,
): Promise<Record<string, unknown>> {
  const facts: FileFacts & { id: string } = {
    id: String(item.id),
    location: String(item.location),
    name: String(item.name),
    size: item.size as number | undefined,
    datatype: item.datatype as string | undefined,
    source: item.source as FileFacts['source'],
  };
  log.warn('taking over a file whose registration did not finish', {
    id: facts.id,
    location: facts.location,
  });
  return runRules(facts, (item.triggers as Trigger[] | undefined) ?? [], { ...ctx, resumed: true }, nowMs);
}

/**
 * The sweeper's part (shared/db/sweeper.ts): takes over at most `limit` files whose registration
 * began more than `P3S_DATA_RECLAIM_AFTER` ago and is still `new`, and finishes each. A file
 * announced again meanwhile is taken over by exactly one of them (`reclaimData` is conditional
 * on the claim time both saw). A file whose rules fail again is logged and left `new`: it is
 * retried once its new claim is as old. Returns how many files were finished and how many failed.
 */
export async function resumeAbandoned(
  nowMs: number,
  limit: number,
): Promise<{ resumed: number; failed: number }> {
  const out = { resumed: 0, failed: 0 };
  const stuck = await pendingData(nowIso(nowMs - reclaimAfterMs()), limit);
  if (!stuck.length) return out;
  const ctx = await contextFor(undefined);
  try {
    for (const it of stuck) {
      if (!abandoned(it, nowMs)) continue;
      try {
        const taken = await reclaimData(String(it.id), String(it.claimedAt), nowMs);
        if (!taken) continue;
        await resume(taken, ctx, nowMs);
        out.resumed++;
      } catch (err) {
        out.failed++;
        log.error('sweeper: file registration not finished', { id: String(it.id), err: String(err) });
      }
    }
  } finally {
    await ctx.stats.flush().catch((err) => log.warn('data counters not updated', { err: String(err) }));
  }
  return out;
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
    // The last outcome is stored with the final state; earlier ones at once (see reclaimAfterMs).
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
  // Ids derived from (file, rule): a takeover that runs this rule again writes the same items.
  const ids = templates.map((t) => uuidFrom('job', f.id, rule.name, String(templateIndex(rule, t))));
  const workflowId = uuidFrom('workflow', f.id, rule.name);
  // A dead attempt that got as far as creating the work passed dedupe and the window limit
  // then; asking again would now answer `duplicate` or `limited` for work that exists.
  const made = ctx.resumed && (await workMade(rule, ids, workflowId));
  if (!made) {
    if (rule.dedupe === 'name' && !(await claimName(rule.name, nameHash(f.name), f.id, nowMs)))
      return { ...base, outcome: 'duplicate', message: `a file named ${f.name} already triggered this rule` };
    if (rule.limit && !(await takeWindowSlot(rule.name, rule.limit, nowMs)))
      return {
        ...base,
        outcome: 'limited',
        message: `at most ${rule.limit.files} file(s) per ${rule.limit.window} s`,
      };
  }
  try {
    if ('workflow' in rule.action) {
      await createWorkflowForFile(rule.action.workflow, rule, f, workflowId);
      return { ...base, outcome: 'workflow', workflowId };
    }
    const jobs = await createJobs(templates, {
      user: rule.user,
      inputFile: f.location,
      extra: { dataId: f.id, rule: rule.name },
      ids,
    });
    return { ...base, outcome: 'jobs', jobs: jobs.map((j) => j.id) };
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    log.warn('rule could not create its work', { rule: rule.name, location: f.location, err: err.message });
    return { ...base, outcome: 'error', message: err.message };
  }
}

/** A template's position in its rule (stable whatever sampling keeps). */
function templateIndex(rule: TriggerRule, t: JobSubmission): number {
  return 'jobs' in rule.action ? rule.action.jobs.indexOf(t) : -1;
}

/** Whether an earlier attempt created any of this rule's work for the file. */
async function workMade(rule: TriggerRule, jobIds: string[], workflowId: string): Promise<boolean> {
  if ('workflow' in rule.action) return workflowExists(workflowId);
  return (await existingJobIds(jobIds)).size > 0;
}

/**
 * Hook point for workflow rules (`action.workflow`): creates and defines a workflow from
 * `action.dag` for the file (shared/db/workflow-runner.ts; every job gets P3S_INPUT_FILE = the file's
 * location) and returns its id. An unknown DAG or bad fileinfo/jobinfo is a ValidationError,
 * recorded as the trigger's `error`.
 */
async function createWorkflowForFile(
  action: WorkflowAction,
  rule: TriggerRule,
  file: FileFacts & { id: string },
  id: string,
): Promise<string> {
  return startWorkflowForFile(action, { rule: rule.name, user: rule.user, file, id });
}
