/**
 * The matching policy: which queued job goes to which pilot — a pilot's own poll (`claimNext`,
 * the fast path) and the stream-triggered matchmaker (`matchRound`) — over the queue partitions
 * a pilot may read (docs/matching.md). The claim itself, like every job state change, is
 * shared/db/job-transitions.ts.
 */
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { config, tableName } from '../config.ts';
import { type Job, queuePartition } from '../core/job/job.ts';
import { freeSlots, type Jobtype } from '../core/jobtype/jobtype.ts';
import { Lru } from '../core/util/lru.ts';
import { wakeups } from '../wakeups.ts';
import { db } from './client.ts';
import { toJob } from './items.ts';
import { claim, type JobItem } from './job-transitions.ts';
import { getJobItem, parseJob } from './jobs.ts';
import { cachedJobtypes, listJobtypes, noteClaimed, noteTypeFull } from './jobtypes.ts';
import { getPilotItem, idlePilots, type PilotItem } from './pilots.ts';

const jobs = () => tableName('jobs');

/** A queue partition to read and how much of it. */
interface HeadPart {
  qpk: string;
  limit: number;
}

/**
 * The partitions a round or a poll reads for pilots of `sites`: the shared ones (types without
 * a queue of their own) and the own partitions of every such type with a free cap slot. A type
 * at its cap is not read at all, so its queued jobs cost nothing and hide nothing.
 */
function headParts(types: Map<string, Jobtype>, sites: (string | undefined)[], want: number): HeadPart[] {
  const where = [...new Set([undefined, ...sites])];
  const parts: HeadPart[] = where.map((s) => ({ qpk: queuePartition(s), limit: want }));
  for (const t of types.values()) {
    if (!t.ownQueue) continue;
    const free = freeSlots(t);
    if (free <= 0) continue;
    for (const s of where) parts.push({ qpk: queuePartition(s, t.name), limit: Math.min(want, free) });
  }
  return parts;
}

/** The heads of `parts`, merged in queue order (priority, then FIFO). */
async function readHead(parts: HeadPart[]): Promise<JobItem[]> {
  const pages = await Promise.all(
    parts.map((p) =>
      db().send(
        new QueryCommand({
          TableName: jobs(),
          IndexName: 'queue',
          KeyConditionExpression: 'qpk = :q',
          ExpressionAttributeValues: { ':q': p.qpk },
          Limit: p.limit,
        }),
      ),
    ),
  );
  return pages.flatMap((p) => (p.Items ?? []).map(parseJob)).sort(byQueueOrder);
}

const byQueueOrder = (a: JobItem, b: JobItem) => String(a.qsk).localeCompare(String(b.qsk));

async function listJobtypesMap(): Promise<Map<string, Jobtype>> {
  return new Map((await listJobtypes()).map((t) => [t.name, t]));
}

/**
 * A pilot's own request takes the best job it may run (the fast path). Types at their cap are
 * not read (their own partitions are skipped) or, if a claim finds one full, skipped; their jobs
 * stay queued. Returns undefined when nothing is claimable; if the pilot was given a job
 * concurrently (by the matchmaker), that job is returned.
 */
export async function claimNext(pilot: PilotItem): Promise<Job | undefined> {
  const inProcess = wakeups().inProcess;
  const siteKey = pilot.site ?? '';
  if (inProcess && emptyAt.get(siteKey) === roundEpoch) return undefined;
  const epoch = roundEpoch;
  const contended = isContended(pilot.id);
  const want = contended ? 32 : 8;
  const types = await cachedJobtypes();
  // Polls of one site arriving together share one read of the queue, if no round ran since it
  // began (2,000 pilots starting at once make a handful of reads, not 2,000).
  const key = `${siteKey}\u0000${want}`;
  let shared = headReads.get(key);
  if (!shared || shared.epoch !== epoch) {
    const read = readHead(headParts(types, [pilot.site], want)).finally(() => {
      if (headReads.get(key) === shared) headReads.delete(key);
    });
    shared = { epoch, read };
    headReads.set(key, shared);
  }
  const head = (await shared.read).filter((j) => freeSlots(types.get(j.jobtype) ?? { inFlight: 0 }) > 0);
  if (!head.length && inProcess) emptyAt.set(siteKey, epoch);
  const skipTypes = new Set<string>();
  // Uncontended, the first try is the head of the queue (exact priority/FIFO order). When this
  // pilot has been losing races (many pilots polling at once, all reading the same head), the
  // first try is a random job of the head's priority, as is every try after a lost race: racing
  // pilots spread out instead of all colliding on the same next job, and a lower priority is
  // never taken while a higher one is left. A bounded number of attempts: the matchmaker covers
  // the rest.
  // Jobs this container just claimed (the head read may still show them) are left out, and jobs
  // another request of this container is claiming right now are tried last within their class:
  // pilots served by one container never race each other.
  let candidates = head.slice(0, want).filter((j) => !justTaken(j.id));
  for (let attempt = 0; attempt < MAX_FAST_PATH_ATTEMPTS && candidates.length; attempt++) {
    const top = candidates.filter((c) => c.priority === candidates[0]!.priority);
    const open = top.filter((c) => !claiming.has(c.id));
    const pool = open.length ? open : top;
    const pick = attempt === 0 && !contended ? pool[0]! : pool[Math.floor(Math.random() * pool.length)]!;
    const job = pick;
    candidates = candidates.filter((c) => c !== pick);
    if (skipTypes.has(job.jobtype)) {
      attempt--;
      continue;
    }
    claiming.add(job.id);
    const r = await claim(job, pilot, 'pilot', countedClaim(job, types.get(job.jobtype))).finally(() =>
      claiming.delete(job.id),
    );
    if (r.ok) {
      taken.set(job.id, Date.now());
      noteClaimed(job.jobtype);
      return r.job;
    }
    if (r.reason === 'job' || r.reason === 'conflict') noteLostRace(pilot.id);
    if (r.reason === 'cap') {
      noteTypeFull(job.jobtype);
      skipTypes.add(job.jobtype);
      candidates = candidates.filter((c) => c.jobtype !== job.jobtype);
    } else if (r.reason === 'pilot') return assignedJob(pilot.id);
    else if (r.reason === 'conflict') {
      candidates.push(job); // the job may still be free: a transaction conflict is not a loss
      await new Promise((res) => setTimeout(res, 1 + Math.random() * 4));
    }
  }
  return undefined;
}

const MAX_FAST_PATH_ATTEMPTS = 6;
/**
 * In-process only (the local stack, where the matchmaker runs in the API's process): every
 * matching round bumps `roundEpoch`, and every change that can make a job claimable (a job
 * queued, a cap slot freed) triggers a round. A pilot's poll that found nothing claimable for
 * its site notes the epoch in `emptyAt`; until a round runs again, polls for that site skip the
 * queue read — 2,000 idle pilots re-polling cost no queue reads (docs/cost-model.md, "Idle
 * pilots"). A poll that went idle while a round ran claims again (pollForWork, `roundsSince`).
 */
let roundEpoch = 0;
const headReads = new Map<string, { epoch: number; read: Promise<JobItem[]> }>();
const emptyAt = new Map<string, number>();
/** The matching rounds so far (in-process meaning only): a poll compares it before and after. */
export const roundsSoFar = (): number => roundEpoch;
/** Jobs a request of this container is claiming at this moment. */
const claiming = new Set<string>();
/**
 * Jobs this container claimed in the last TAKEN_MS (a queue head read just before, or an index
 * that lags its table, may still list them), with the time of the claim. Only that window: a job
 * put back in the queue later (taken back from a pilot that never started it, reset) is claimable
 * again at once.
 */
const taken = new Lru<string, number>(5000);
const TAKEN_MS = 1500;
const justTaken = (id: string) => Date.now() - (taken.peek(id) ?? 0) < TAKEN_MS;
/**
 * Whether a pilot's claim should expect to race: the pilot itself lost a race in the last
 * CONTENDED_MS, or claims in this container recently lost CROWD races within a second (many
 * pilots polling at once). Memory is per container: on Lambda a poll that reaches another
 * container starts uncontended, which only costs it a possible lost race. A lone pilot never
 * races, so it always takes the exact head of the queue.
 */
function isContended(pilotId: string): boolean {
  const now = Date.now();
  if (now - (lostRaceAt.get(pilotId) ?? 0) < CONTENDED_MS) return true;
  // A crowd: CROWD losses within a second of each other, the last one recent.
  const n = recentLosses.length;
  return (
    n >= CROWD && recentLosses[n - 1]! - recentLosses[0]! < 1000 && now - recentLosses[n - 1]! < CONTENDED_MS
  );
}

const CONTENDED_MS = 2000;
const CROWD = 5;
const lostRaceAt = new Map<string, number>();
/** Times of this container's last CROWD lost races, oldest first. */
const recentLosses: number[] = [];

function noteLostRace(pilotId: string): void {
  const now = Date.now();
  if (lostRaceAt.size > 10_000)
    for (const [id, at] of lostRaceAt) if (now - at >= CONTENDED_MS) lostRaceAt.delete(id);
  lostRaceAt.set(pilotId, now);
  recentLosses.push(now);
  if (recentLosses.length > CROWD) recentLosses.shift();
}

/**
 * Whether a claim of `job` takes a slot of its type's cap: when the type (as this view has it)
 * has a cap or is being converted to one, or when the job was marked by such a conversion.
 */
const countedClaim = (job: JobItem, type: Jobtype | undefined) =>
  type?.limit !== undefined || type?.converting === true || job.counted === true;

/** The job a pilot was given and has not started yet, if any. */
async function assignedJob(pilotId: string): Promise<Job | undefined> {
  const p = await getPilotItem(pilotId);
  if (!p?.jobId || p.state !== 'dispatched') return undefined;
  const j = await getJobItem(p.jobId);
  return j && j.state === 'dispatched' && j.pilotId === pilotId ? toJob(j) : undefined;
}

/**
 * A held poll is handed a job only if it stays open at least this long: time for the claim, the
 * wake-up and the answer. A pilot whose hold is about to end polls again and takes work itself.
 */
const HOLD_MARGIN_MS = 500;

/**
 * One matchmaking round: pairs queued jobs (priority, then age) with pilots holding a live poll
 * (latest hold first: the pilot most recently heard from is the most likely to be alive),
 * honouring site requirements and caps. Safe to run concurrently with other rounds and with
 * pilots' own claims: every pairing is a conditional claim, and losing one is harmless.
 */
export async function matchRound(opts: { maxPairs?: number; fresh?: JobItem[] } = {}): Promise<number> {
  roundEpoch++;
  // Paced polling holds no poll: no pilot waits in the idle index, idle pilots take work by polling.
  if (config().P3S_POLL_MODE === 'paced') return 0;
  const max = opts.maxPairs ?? 500;
  let matched = 0;
  const idle = await idlePilots(200, new Date(Date.now() + HOLD_MARGIN_MS).toISOString());
  if (!idle.length) return 0;
  const types = await listJobtypesMap();
  const sites = [...new Set(idle.map((p) => p.site).filter((s): s is string => Boolean(s)))];
  const free = new Map([...types.values()].map((t) => [t.name, freeSlots(t)]));
  const open = (type: string) => (free.get(type) ?? Number.POSITIVE_INFINITY) > 0;
  // Jobs queued by the records that triggered this round join the head: on AWS the queue GSI
  // can lag its table by about a second, and the claim's conditions make a stale copy harmless.
  // Read only as much of each partition as the idle pilots (or the type's free slots) can take.
  const queried = await readHead(headParts(types, sites, Math.min(200, idle.length + 4)));
  const seen = new Set(queried.map((j) => j.id));
  const head = [...queried, ...(opts.fresh ?? []).filter((j) => !seen.has(j.id))].sort(byQueueOrder);
  for (const job of head) {
    if (matched >= max || !idle.length) break;
    if (!open(job.jobtype)) continue;
    for (;;) {
      const i = idle.findIndex((p) => !job.site || p.site === job.site);
      if (i < 0) break;
      const pilot = idle[i]!;
      const counted = countedClaim(job, types.get(job.jobtype));
      if (claiming.has(job.id) || justTaken(job.id)) break; // a pilot's own poll here is taking it
      claiming.add(job.id);
      let r = await claim(job, pilot, 'matchmaker', counted);
      for (let retry = 0; !r.ok && r.reason === 'conflict' && retry < 3; retry++) {
        await new Promise((res) => setTimeout(res, 1 + Math.random() * 4));
        r = await claim(job, pilot, 'matchmaker', counted);
      }
      claiming.delete(job.id);
      if (r.ok) {
        taken.set(job.id, Date.now());
        idle.splice(i, 1);
        free.set(job.jobtype, (free.get(job.jobtype) ?? Number.POSITIVE_INFINITY) - 1);
        matched++;
        break;
      }
      if (r.reason === 'pilot') {
        idle.splice(i, 1);
        continue;
      }
      if (r.reason === 'cap') free.set(job.jobtype, 0);
      break;
    }
  }
  return matched;
}
