import { planShedding, type QueuedJob } from '../core/data/shedding.ts';
import type { JobState } from '../core/job/job.ts';
import { log } from '../log.ts';
import { endJob, type JobItem, jobsInState } from './job-transitions.ts';
import { listJobtypes } from './jobtypes.ts';

/** Ended jobs sampled (newest first) to estimate each type's mean run time. */
const RUNTIME_SAMPLE = 200;
/** A type needs at least this many ended jobs in the sample before it is shed. */
const MIN_RUNTIME_SAMPLES = 3;

type Item = JobItem;

/** Jobs in `state`, newest first; for one type only its queued (not held) jobs. */
async function query(state: JobState, opts: { limit?: number; jobtype?: string } = {}): Promise<Item[]> {
  const { items } = await jobsInState(state, {
    newestFirst: true,
    limit: opts.limit,
    jobtype: opts.jobtype,
    queuedOnly: Boolean(opts.jobtype),
  });
  return items;
}

/** Mean run time (startedAt → endedAt, seconds) per job type, from the newest finished jobs. */
async function meanRunTimes(): Promise<Map<string, number>> {
  const sums = new Map<string, { total: number; n: number }>();
  for (const j of await query('finished', { limit: RUNTIME_SAMPLE })) {
    const ms = Date.parse(String(j.endedAt)) - Date.parse(String(j.startedAt));
    if (!(ms >= 0)) continue;
    const s = sums.get(j.jobtype) ?? { total: 0, n: 0 };
    s.total += ms / 1000;
    s.n++;
    sums.set(j.jobtype, s);
  }
  return new Map(
    [...sums].filter(([, s]) => s.n >= MIN_RUNTIME_SAMPLES).map(([k, s]) => [k, s.total / s.n] as const),
  );
}

/**
 * Shedding (called by the reaper before it marks jobs stale): for every job type with a cap and
 * a deadline, drops the queued jobs that the model of `planShedding` says cannot start before
 * their deadline — the lowest-priority, oldest first. Each drop is conditional on the job
 * still being queued as seen, so a job claimed meanwhile is never dropped.
 */
export async function shedQueues(nowMs = Date.now()): Promise<{ dropped: number }> {
  const types = (await listJobtypes()).filter((t) => t.deadline !== undefined && t.limit !== undefined);
  if (!types.length) return { dropped: 0 };
  const runtimes = await meanRunTimes();
  let dropped = 0;
  for (const t of types) {
    const meanRunSec = runtimes.get(t.name);
    if (meanRunSec === undefined) continue;
    const queued = await query('defined', { jobtype: t.name });
    if (!queued.length) continue;
    const plan = planShedding({
      jobs: queued.map(
        (j): QueuedJob => ({
          id: j.id,
          priority: Number(j.priority ?? 0),
          definedAt: j.definedAt ?? j.createdAt ?? String(j.stateAt),
        }),
      ),
      deadlineSec: t.deadline!,
      limit: t.limit!,
      inFlight: t.inFlight ?? 0,
      meanRunSec,
      nowMs,
    });
    if (!plan.drop.length) continue;
    const byId = new Map(queued.map((j) => [j.id, j]));
    let n = 0;
    for (const id of plan.drop) {
      const j = byId.get(id)!;
      const message = `shed: could not start within the ${t.deadline} s deadline (${plan.keep} queued jobs fit at ${plan.rate.toFixed(2)} jobs/s)`;
      if (await endJob(j, 'dropped', { requireStateAt: true, info: { message } })) n++;
    }
    dropped += n;
    log.info('shedding', { jobtype: t.name, dropped: n, kept: plan.keep, rate: plan.rate, meanRunSec });
  }
  return { dropped };
}
