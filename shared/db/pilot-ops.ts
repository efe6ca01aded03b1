import { config } from '../config.ts';
import { ConflictError, ValidationError } from '../core/errors.ts';
import type { Job, JobState } from '../core/job/job.ts';
import { stateFromExit } from '../core/job/job.ts';
import type { PollAnswerOf } from '../core/pilot/api.ts';
import { PILOT_ENDED, type PilotAction, type PilotReport } from '../core/pilot/pilot.ts';
import { pilotKey, wakeups } from '../wakeups.ts';
import { claimNext, roundsSoFar } from './dispatch.ts';
import { toJob } from './items.ts';
import { assignmentOf, endJob, noteStarted, startJob, storeLiveTails, takeBack } from './job-transitions.ts';
import { getJobItem } from './jobs.ts';
import {
  authorisePilot,
  authorisePilotKey,
  endPilot,
  freePilot,
  getPilotItem,
  leaveIdle,
  markWaiting,
  type PilotItem,
  touchPilot,
} from './pilots.ts';
import { counter } from './stats.ts';

export type PollAnswer = PollAnswerOf<Job>;

/**
 * An explicit kill or drain stops the pilot. A pilot the server ended on its own (`timeout`:
 * its heartbeat was lost, or it did not start a job in time) is told so with a 409: it registers
 * again and carries on — a server outage or a slow network must never empty the fleet.
 */
function stopAnswer(p: PilotItem): PollAnswer | undefined {
  if (p.kill || p.state === 'killed') return { state: 'killed' };
  if (p.drain) return { state: 'drain' };
  if (PILOT_ENDED.has(p.state))
    throw new ConflictError(`pilot ${p.id} is ${p.state}: register again to take more work`);
  return undefined;
}

async function jobFor(p: PilotItem): Promise<Job | undefined> {
  if (!p.jobId || p.state !== 'dispatched') return undefined;
  const j = await getJobItem(p.jobId);
  return j && j.state === 'dispatched' && j.pilotId === p.id ? toJob(j) : undefined;
}

/**
 * A pilot asks for work. Order: a job already assigned to it (a lost answer is re-delivered) →
 * the fast path (claim the best queued job itself) → become idle and hold the request until the
 * matchmaker assigns a job or `waitSec` passes. `gone` (local stack only) fires when the pilot's
 * connection closed: the pilot is taken out of the idle index at once, so no job goes to it.
 */
export async function pollForWork(
  pilot: PilotItem,
  waitSec: number,
  gone?: AbortSignal,
): Promise<PollAnswer> {
  const stop = stopAnswer(pilot);
  if (stop) return stop;
  if (pilot.jobId) {
    const j = await getJobItem(pilot.jobId);
    const mine = j?.pilotId === pilot.id;
    // A job given to it whose answer was lost: delivered again (a lost answer is not a lost job).
    if (mine && j?.state === 'dispatched') return { state: 'dispatched', job: toJob(j) };
    if (mine && j?.state === 'running')
      throw new ConflictError(`pilot ${pilot.id} is running job ${pilot.jobId}; report its end first`);
    // The job ended but the pilot was not freed (the end frees it in a second write that never
    // came): free it now and go on.
    await freePilot(pilot.id, pilot.jobId);
    pilot = { ...pilot, state: 'active', jobId: undefined, jobtype: undefined, counted: undefined };
  }

  const rounds = roundsSoFar();
  const claimed = await claimNext(pilot);
  if (claimed) return { state: 'dispatched', job: claimed };
  if (config().P3S_POLL_MODE === 'paced') return pacedNoJob(pilot);

  const wait = Math.min(waitSec, config().P3S_LONGPOLL_MAX) * 1000;
  const until = Date.now() + wait;
  const w = wakeups();
  // Register for the wake-up before becoming visible as idle, so a claim in between is not missed.
  let woken = wait > 0 ? w.wait(pilotKey(pilot.id), wait) : Promise.resolve(false);
  const idle = await markWaiting(pilot, wait);
  if (!idle) return givenMeanwhile(pilot.id, 0);
  if (w.inProcess && roundsSoFar() !== rounds) {
    // A matching round ran between our look at the queue and our entering the idle index: it
    // may have seen work without seeing us. Look again (the claim takes us out of the index).
    const late = await claimNext(idle);
    if (late) return { state: 'dispatched', job: late };
  }
  if (wait <= 0) return { state: 'no jobs', retryAfter: 0 };
  const onGone = () => w.notify(pilotKey(pilot.id));
  gone?.addEventListener('abort', onGone, { once: true });
  if (gone?.aborted) {
    // The pilot went away before its hold even began.
    gone.removeEventListener('abort', onGone);
    if (idle.isk) await leaveIdle(pilot.id, idle.isk);
    return { state: 'no jobs', retryAfter: 0 };
  }
  try {
    for (;;) {
      // In-process, a change to this pilot (a claim, a drain, its client leaving) wakes the hold:
      // a hold that ends unwoken has nothing to read. On Lambda the item is re-read every
      // P3S_LONGPOLL_CHECK_MS, and once more at the end.
      let changed = true;
      if (w.inProcess) changed = await woken;
      else
        await new Promise((r) =>
          setTimeout(r, Math.min(config().P3S_LONGPOLL_CHECK_MS, Math.max(0, until - Date.now()))),
        );
      if (gone?.aborted) {
        // Nobody is listening any more. If a job was handed over in the same instant it stays
        // dispatched without a jobstart, and the reaper takes it back (never a lost job).
        if (idle.isk) await leaveIdle(pilot.id, idle.isk);
        return { state: 'no jobs', retryAfter: 0 };
      }
      if (!changed) break;
      const left = until - Date.now();
      // Waiting again is registered before the read, so a change right after it still wakes us.
      if (w.inProcess && left > 0) woken = w.wait(pilotKey(pilot.id), left);
      const p = await getPilotItem(pilot.id);
      if (!p) break;
      const s = stopAnswer(p);
      if (s) return s;
      const j = await jobFor(p);
      if (j) return { state: 'dispatched', job: j };
      if (left <= 0) break; // woken without a job for us (or a re-check): wait for what is left
    }
  } finally {
    gone?.removeEventListener('abort', onGone);
  }
  return { state: 'no jobs', retryAfter: 0 };
}

/** The pilot's `markWaiting` failed: it was given a job (or a drain) since its claim attempt. */
async function givenMeanwhile(id: string, retryAfter: number): Promise<PollAnswer> {
  const p = (await getPilotItem(id))!;
  const s = stopAnswer(p);
  if (s) return s;
  const j = await jobFor(p);
  if (j) return { state: 'dispatched', job: j };
  return { state: 'no jobs', retryAfter };
}

/**
 * Paced polling (docs/protocol.md, "Idle pilots"): no job, so the pilot is told when to poll
 * again. Each idle pilot comes back after ≈ N_idle / P3S_IDLE_POLLS_PER_S seconds, jittered
 * ×[0.5, 1.5) so that their polls spread out: all idle pilots together poll about R times a
 * second whatever their number, and a new job waits ≈ 1/(2R) for the next poll. The pilot
 * sends no heartbeat while it waits; `nextPollBy` tells the reaper its silence until then is
 * expected. Nothing is held: the request answers at once.
 */
async function pacedNoJob(pilot: PilotItem): Promise<PollAnswer> {
  const retryAfter = paceFor(await idleCount());
  const waiting = await markWaiting(pilot, 0, retryAfter * 1000);
  if (!waiting) return givenMeanwhile(pilot.id, retryAfter);
  return { state: 'no jobs', retryAfter };
}

/**
 * Seconds before an idle pilot's next poll, given the number of idle pilots: a mean of N/R,
 * bounded by P3S_POLL_PACE_MIN/MAX, then jittered ×[0.5, 1.5) — after the bounds, so that pilots
 * at the bound still spread out instead of polling again all at once (exported for tests).
 */
export function paceFor(idle: number, random = Math.random()): number {
  const c = config();
  const mean = Math.min(
    c.P3S_POLL_PACE_MAX,
    Math.max(c.P3S_POLL_PACE_MIN, Math.max(1, idle) / c.P3S_IDLE_POLLS_PER_S),
  );
  return Math.round(mean * (0.5 + random) * 100) / 100;
}

/**
 * Idle pilots now: the `pilots#waiting` counter kept by the stream consumer (one GetItem),
 * remembered IDLE_COUNT_MS by the container — the pace needs its order of magnitude, not its
 * last unit.
 */
async function idleCount(): Promise<number> {
  const now = Date.now();
  if (!idleSeen || now - idleSeen.at > IDLE_COUNT_MS) {
    idleSeen = { at: now, n: await counter('pilots#waiting') };
  }
  return idleSeen.n;
}
const IDLE_COUNT_MS = 5000;
let idleSeen: { at: number; n: number } | undefined;

const END_STATE: Partial<Record<PilotReport['event'], (r: PilotReport) => JobState>> = {
  jobstop: (r) => stateFromExit(r.exitCode, r.signal),
  timelimit: () => 'timelimit',
  nonstarter: () => 'nonstarter',
  killed: () => 'killed',
};

function actionFor(p: PilotItem): PilotAction {
  if (p.kill) return 'kill';
  if (p.killJobId && p.killJobId === p.jobId) return 'killjob';
  if (p.drain) return 'drain';
  return 'none';
}

/**
 * Applies a pilot's report. Reports are idempotent: a repeated report that was already applied
 * answers ok again. A report about a job that is not this pilot's is a 409 and changes nothing.
 */
async function applyReport(
  pilot: PilotItem,
  r: PilotReport,
): Promise<{ status: 'ok'; action: PilotAction; job?: Job; next?: PollAnswer }> {
  if (PILOT_ENDED.has(pilot.state)) {
    if (r.event === 'stopped') return { status: 'ok', action: 'none' };
    throw new ConflictError(`pilot ${pilot.id} is ${pilot.state}`);
  }
  const needsJob = r.event !== 'heartbeat' && r.event !== 'stopped';
  if (needsJob && !r.jobId) throw new ValidationError(`body.jobId: required for event ${r.event}`);

  if (r.event === 'stopped') {
    if (pilot.jobId) {
      const j = await getJobItem(pilot.jobId);
      if (j && j.pilotId === pilot.id && j.state === 'dispatched') {
        // Given a job just as it stopped: the job never ran, so it goes back to the queue.
        await takeBack(j, {
          pilot: 'stopped',
          seen: true,
          reason: 'its pilot stopped before starting it',
        });
      } else if (j && j.pilotId === pilot.id && j.state === 'running') {
        await endJob(j, 'pilotTO', {
          pilotId: pilot.id,
          pilot: 'stopped',
          seen: true,
          info: { message: 'pilot stopped with the job running' },
        });
      }
    }
    await endPilot(pilot.id, pilot.kill ? 'killed' : 'stopped');
    return { status: 'ok', action: 'none' };
  }

  if (r.event === 'heartbeat' || r.event === 'jobstart') return applyLightReport(pilot.id, r);

  const jobId = r.jobId!;
  const to = END_STATE[r.event]!(r);
  const info = {
    exitCode: r.exitCode,
    signal: r.signal,
    message: r.message,
    stdoutTail: r.stdoutTail,
    stderrTail: r.stderrTail,
    pid: r.pid,
    payloadStartedAt: r.payloadStartedAt,
  };
  // Hot path: the pilot item (already read to authorise) names its job and the job's type, so
  // the end transaction needs no read of the job. Its conditions (pilotId, in-flight state) make
  // it safe; if they fail, the slow path below finds out why.
  if (pilot.jobId === jobId && typeof pilot.jobtype === 'string') {
    const ok = await endJob(
      {
        id: jobId,
        jobtype: pilot.jobtype,
        state: ['dispatched', 'running'],
        counted: pilot.counted === true,
      },
      to,
      {
        pilotId: pilot.id,
        pilot: 'free',
        seen: true,
        info,
      },
    );
    if (ok) return { status: 'ok', action: 'none', ...(r.next ? { next: await nextFor(pilot) } : {}) };
  }
  const j = await getJobItem(jobId);
  if (!j || j.pilotId !== pilot.id)
    throw new ConflictError(`job ${jobId} is not assigned to pilot ${pilot.id}`);
  if (j.state === 'dispatched' || j.state === 'running') {
    // A false answer means the reaper or a kill ended it first: then the report is still ok.
    await endJob(j, to, { pilotId: pilot.id, pilot: 'free', seen: true, info });
  } else if (pilot.jobId === jobId) {
    // Ended by the server meanwhile (e.g. killed while dispatched): free the pilot.
    await freePilot(pilot.id, jobId);
  }
  // The pilot polls next; the poll answers drain or kill if they were asked for.
  return { status: 'ok', action: 'none' };
}

/**
 * A report as it arrives: checks the pilot's key, then applies it, reading the pilot's item only
 * when the report needs it. jobstart and heartbeats never do (their writes are conditional); the
 * end of a job this container handed to the pilot does not either (the claim left what the end
 * needs: the job, its type, whether it holds a cap slot; the end's conditions check the rest, and
 * a miss falls back to reading the pilot).
 */
export async function reportFromPilot(
  pilotId: string,
  key: string | undefined,
  role: string,
  r: PilotReport,
): Promise<{ status: 'ok'; action: PilotAction; job?: Job; next?: PollAnswer }> {
  if (r.event === 'jobstart' || r.event === 'heartbeat') {
    const pilot = await authorisePilotKey(pilotId, key, role);
    return pilot ? applyReport(pilot, r) : applyLightReport(pilotId, r);
  }
  const known = r.event !== 'stopped' && r.jobId ? assignmentOf(pilotId, r.jobId) : undefined;
  if (known) {
    const pilot = await authorisePilotKey(pilotId, key, role);
    if (pilot) return applyReport(pilot, r);
    const view: PilotItem = {
      id: pilotId,
      state: 'running',
      host: '',
      keyHash: '',
      lastSeenAt: '',
      jobId: known.jobId,
      jobtype: known.jobtype,
      counted: known.counted,
    };
    return applyReport(view, r);
  }
  return applyReport(await authorisePilot(pilotId, key, role), r);
}

/**
 * The reports whose own conditional write is all the check they need, so the pilot's item is not
 * read first (its key was checked from this container's memory: authorisePilotKey):
 * - `heartbeat`: the touch is conditional on the pilot not ended (409 otherwise), and marks it
 *   `running` on the job it names when it still holds that job (jobstart does not write the
 *   pilot); a job the server ended meanwhile is answered `killjob`.
 * - `jobstart`: conditional on the job being dispatched to this pilot.
 */
async function applyLightReport(
  pilotId: string,
  r: PilotReport,
): Promise<{ status: 'ok'; action: PilotAction; job?: Job; next?: PollAnswer }> {
  if (r.event === 'heartbeat') {
    const p = await touchPilot(pilotId, r.jobId);
    if (r.jobId && r.jobId !== p.jobId) {
      // The server ended this job (reaper, kill of a pilot that was out of reach): tell the pilot to stop it.
      const j = await getJobItem(r.jobId);
      if (!j || j.pilotId !== pilotId)
        throw new ConflictError(`job ${r.jobId} is not assigned to pilot ${pilotId}`);
      return { status: 'ok', action: 'killjob' };
    }
    if (r.jobId && r.payloadStartedAt) await noteStarted(r.jobId, pilotId, r);
    if (r.jobId) await storeLiveTails(r.jobId, pilotId, r);
    return { status: 'ok', action: actionFor(p) };
  }
  if (!r.jobId) throw new ValidationError(`body.jobId: required for event ${r.event}`);
  const job = await startJob(r.jobId, pilotId, { pid: r.pid, payloadStartedAt: r.payloadStartedAt });
  // Not running for this pilot (killed or ended while dispatched): it must not be started.
  if (job.state !== 'running') return { status: 'ok', action: 'killjob', job };
  // Drain and kill flags reach the pilot with its next heartbeat; no extra read on this hot path.
  return { status: 'ok', action: 'none', job };
}

/**
 * The answer to a final report that asked for the pilot's next job (`next: true`): what a poll
 * with `wait: 0` would answer, without the poll's round trip — the pilot was just freed in the
 * same request. A drain or kill asked for meanwhile is answered as the poll would.
 */
async function nextFor(was: PilotItem): Promise<PollAnswer> {
  const stop = stopAnswer(was);
  if (stop) return stop;
  const freed: PilotItem = {
    ...was,
    state: 'active',
    jobId: undefined,
    jobtype: undefined,
    counted: undefined,
  };
  const job = await claimNext(freed);
  if (job) return { state: 'dispatched', job };
  // Nothing claimed: the pilot's own flags say whether it is to stop (the view of it this request
  // started from may predate a drain or kill).
  const now = await getPilotItem(was.id);
  return (now && stopAnswer(now)) ?? { state: 'no jobs', retryAfter: 0 };
}
