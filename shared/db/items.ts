import type { Data } from '../core/data/data.ts';
import type { Datatype } from '../core/data/datatype.ts';
import type { TriggerRule } from '../core/data/rule.ts';
import type { Job } from '../core/job/job.ts';
import type { Jobtype } from '../core/jobtype/jobtype.ts';
import type { Pilot } from '../core/pilot/pilot.ts';
import type { Site } from '../core/site/site.ts';
import type { DagSummary } from './dags.ts';
import type { TokenInfo } from './tokens.ts';
import type { Workflow } from './workflow-store.ts';

/**
 * What the API answers about each entity: an explicit list of fields per entity, checked by the
 * compiler against the entity's type (every field listed, none more). An item read from a table
 * becomes an answer only through `pick`, so attributes the tables keep for themselves — index
 * keys (`qpk`, `qsk`, `lpk`, `ipk`, `isk`), queue order (`seq`), `ttl`, hashes (`keyHash`,
 * `hash`), claims (`claimedAt`, `killJobId`), packed bodies — never leave, whatever is added to
 * an item later. `test/integration/answer-fields.test.ts` checks every entity route's answer
 * against its own copy of these lists.
 */
export type Fields<T> = { readonly [K in keyof Required<T>]: true };

/** The listed fields of `item` that are set; nothing else. */
export function pick<T>(fields: Fields<T>, item: Record<string, unknown>): T {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(fields)) if (item[k] !== undefined) out[k] = item[k];
  return out as T;
}

const JOB_FIELDS: Fields<Job> = {
  id: true,
  name: true,
  jobtype: true,
  payload: true,
  env: true,
  priority: true,
  timelimit: true,
  state: true,
  held: true,
  site: true,
  user: true,
  pilotId: true,
  host: true,
  exitCode: true,
  signal: true,
  message: true,
  stdoutTail: true,
  stderrTail: true,
  killRequested: true,
  workflowId: true,
  vertex: true,
  inputFile: true,
  dataId: true,
  rule: true,
  createdAt: true,
  definedAt: true,
  dispatchedAt: true,
  startedAt: true,
  payloadStartedAt: true,
  endedAt: true,
  stateAt: true,
  tailAt: true,
  requeuedAt: true,
  requeuedFrom: true,
  pid: true,
};

const PILOT_FIELDS: Fields<Pilot> = {
  id: true,
  host: true,
  site: true,
  pid: true,
  extra: true,
  version: true,
  resources: true,
  state: true,
  jobId: true,
  jobtype: true,
  jobcount: true,
  drain: true,
  kill: true,
  registeredAt: true,
  lastSeenAt: true,
  idleSince: true,
  stateAt: true,
  endedAt: true,
};

export const DATA_FIELDS: Fields<Data> = {
  id: true,
  location: true,
  name: true,
  dirpath: true,
  size: true,
  datatype: true,
  source: true,
  comment: true,
  state: true,
  user: true,
  registeredAt: true,
  updatedAt: true,
  announced: true,
  lastAnnouncedAt: true,
  triggers: true,
  jobIds: true,
};

export const JOBTYPE_FIELDS: Fields<Jobtype> = {
  name: true,
  limit: true,
  priority: true,
  deadline: true,
  sampling: true,
  inFlight: true,
  maxInFlight: true,
  ownQueue: true,
  migrating: true,
};

export const SITE_FIELDS: Fields<Site> = {
  name: true,
  server: true,
  pilots: true,
  pilotcycles: true,
  pilotperiod: true,
  pilotbeat: true,
  pilotlife: true,
  env: true,
  updatedAt: true,
};

export const DATATYPE_FIELDS: Fields<Datatype & { updatedAt: string; user?: string }> = {
  name: true,
  ext: true,
  comment: true,
  updatedAt: true,
  user: true,
};

export const RULE_FIELDS: Fields<TriggerRule> = {
  name: true,
  comment: true,
  enabled: true,
  match: true,
  action: true,
  sampling: true,
  limit: true,
  dedupe: true,
  user: true,
  createdAt: true,
  updatedAt: true,
};

export const TOKEN_FIELDS: Fields<TokenInfo> = {
  id: true,
  role: true,
  name: true,
  createdAt: true,
  expiresAt: true,
  revokedAt: true,
};

export const WORKFLOW_FIELDS: Fields<Workflow> = {
  id: true,
  name: true,
  dag: true,
  state: true,
  user: true,
  nvertices: true,
  nedges: true,
  ndone: true,
  inputFile: true,
  dataId: true,
  rule: true,
  createdAt: true,
  definedAt: true,
  startedAt: true,
  endedAt: true,
  stateAt: true,
};

export const DAG_FIELDS: Fields<DagSummary> = {
  name: true,
  description: true,
  nvertices: true,
  nedges: true,
  roots: true,
  jobtypes: true,
  datatypes: true,
  user: true,
  createdAt: true,
  updatedAt: true,
};

export const toJob = (item: Record<string, unknown>): Job => pick(JOB_FIELDS, item);
export const toPilot = (item: Record<string, unknown>): Pilot => pick(PILOT_FIELDS, item);

/** The listing partitions' prefixes (`lpk` = `<prefix>#<day>`), one per entity with a `list` index. */
export const LIST_PREFIX = { job: 'J', pilot: 'P', data: 'D', workflow: 'W' } as const;
export type Listed = keyof typeof LIST_PREFIX;

/** Listing partition: one per creation day, so "newest first" is a Query, not a Scan. */
export const dayPartition = (entity: Listed, iso: string) => `${LIST_PREFIX[entity]}#${iso.slice(0, 10)}`;
