import { config } from '../config.ts';
import { PILOT_ENDED } from '../core/pilot/pilot.ts';
import { log } from '../log.ts';
import { matchRound } from './dispatch.ts';
import { endJob, type JobItem, jobsInState, migrateToOwnQueue, takeBack } from './job-transitions.ts';
import { getJobItem } from './jobs.ts';
import { listJobtypes } from './jobtypes.ts';
import { endPilot, getPilotItem, livePilots, type PilotItem, requestJobKill } from './pilots.ts';
import { probeApi, serviceClock } from './service-clock.ts';
import { shedQueues } from './shedding.ts';
import { counter } from './stats.ts';
import { type SweepReport, sweepIfDue } from './sweeper.ts';

export interface ReapReport {
  pilotsTimedOut: number;
  /** Dispatched jobs whose jobstart never came, put back in the queue (they never ran). */
  jobsRequeued: number;
  jobsPilotTO: number;
  jobsTimelimit: number;
  jobsStale: number;
  matched: number;
  /** The API did not answer the reaper's probe: nobody was timed out. */
  suspectServer: boolean;
  /** What the sweeper repaired, when a sweep was due (shared/db/sweeper.ts). */
  swept?: SweepReport;
}

type Item = JobItem & { stateAt: string };

/**
 * The reaper (scheduled): every timeout p3s has. Each step is one conditional transaction —
 * the pilot's end, its job's end (or return to the queue) and the cap slot together — so a
 * crash between steps leaves nothing half done, and a report arriving meanwhile wins cleanly
 * (every condition names the state, and for pilots the `lastSeenAt`, that the reaper saw).
 * Deadlines that depend on pilots reaching the server never run while the server was down
 * (shared/db/service-clock.ts). It closes with a matchmaking round, which also covers stream
 * records lost while the stack was down.
 */
export async function reap(nowMs = Date.now(), opts: { pilots?: boolean } = {}): Promise<ReapReport> {
  const startedMs = Date.now();
  const c = config();
  const rep: ReapReport = {
    pilotsTimedOut: 0,
    jobsRequeued: 0,
    jobsPilotTO: 0,
    jobsTimelimit: 0,
    jobsStale: 0,
    matched: 0,
    suspectServer: false,
  };
  // `pilots: false` (scheduled runs between pilot scans, functions/schedule/reaper.ts): the
  // heartbeat step is skipped, which spares reading every live pilot every run.
  const [live, apiUp] = await Promise.all([opts.pilots === false ? [] : livePilots(), probeApi()]);
  const clock = await serviceClock(nowMs, apiUp);
  rep.suspectServer = clock.suspectServer;
  const since = (iso: string | undefined) => Math.max(Date.parse(String(iso)) || 0, clock.upSinceMs);

  if (!clock.suspectServer) {
    // 1. Pilots that stopped heart-beating → timeout, with their job: put back in the queue if
    //    it never started, pilotTO if it was running.
    for (const p of live) {
      // A pilot holding a poll (or handed a job by one) is next heard from when that poll ends;
      // one told to poll again later (paced polling) when it was told to.
      const heardBy = Math.max(
        since(p.lastSeenAt),
        Date.parse(String(p.holdUntil)) || 0,
        Date.parse(String(p.nextPollBy)) || 0,
      );
      if (nowMs - heardBy <= c.P3S_HEARTBEAT_TIMEOUT * 1000) continue;
      const outcome = await timeOutPilot(p);
      if (!outcome) continue;
      rep.pilotsTimedOut++;
      if (outcome === 'requeued') rep.jobsRequeued++;
      if (outcome === 'pilotTO') rep.jobsPilotTO++;
    }

    // 2. Dispatched, but no jobstart within the grace → back to the queue (the pilot is ended).
    const graceMs = c.P3S_DISPATCH_GRACE * 1000;
    const seen = new Map(live.map((p) => [p.id, p]));
    for (const j of (await jobsInState('dispatched', { before: new Date(nowMs - graceMs).toISOString() }))
      .items) {
      const deadline = Math.max(
        Date.parse(String(j.dispatchedAt ?? j.stateAt)) + graceMs,
        clock.upSinceMs + c.P3S_HEARTBEAT_TIMEOUT * 1000,
      );
      if (nowMs <= deadline) continue;
      const pilot = seen.get(String(j.pilotId)) ?? (await getPilotItem(String(j.pilotId)));
      const outcome = await takeBack(j, {
        pilot: 'timeout',
        pilotLastSeenAt: pilot?.lastSeenAt,
        reason: `its pilot did not start it within ${c.P3S_DISPATCH_GRACE} s`,
      });
      if (outcome === 'requeued') rep.jobsRequeued++;
      if (outcome === 'pilotTO') rep.jobsPilotTO++;
    }
  }

  // 3. Running past timelimit + grace → timelimit (the pilot should have done it; tell it to kill).
  //    The pilot enforces the limit on its own clock even when the server is unreachable.
  for (const j of (await jobsInState('running')).items) {
    const started = Date.parse(String(j.startedAt ?? j.stateAt));
    if (nowMs - started <= (Number(j.timelimit) + c.P3S_TIMELIMIT_GRACE) * 1000) continue;
    if (
      await endJob(j, 'timelimit', {
        requireStateAt: true,
        info: { message: 'time limit passed (ended by the server)' },
      })
    ) {
      rep.jobsTimelimit++;
      if (j.pilotId) await requestJobKill(String(j.pilotId), j.id);
    }
  }

  await shedQueues(nowMs); // queued work that can no longer start in time → dropped (shared/db/shedding.ts)
  // 4. Queued past the type's deadline → stale.
  const types = await listJobtypes();
  const deadlines = new Map(types.filter((t) => t.deadline !== undefined).map((t) => [t.name, t.deadline!]));
  if (deadlines.size) {
    for (const j of (await jobsInState('defined')).items) {
      const d = deadlines.get(j.jobtype);
      if (d === undefined) continue;
      if (nowMs - Date.parse(String(j.definedAt ?? j.createdAt)) <= d * 1000) continue;
      if (
        await endJob(j, 'stale', {
          requireStateAt: true,
          info: { message: `queued longer than the ${d} s deadline` },
        })
      )
        rep.jobsStale++;
    }
  }

  // 5. Newly capped types whose queued jobs are not all in their own partitions yet.
  for (const t of types.filter((x) => x.migrating || x.converting))
    await migrateToOwnQueue(t.name, Date.now() + 10_000, t.converting === true);

  // Between pilot scans, only with something queued (the counter, a GetItem): 2,000 idle pilots
  // are not read every 2 s for nothing. A full run does not trust the counter — a dropped stream
  // batch can leave it short until the sweeper settles it — so a queued job waits at most until
  // the next full run.
  if (opts.pilots !== false || (await counter('jobs#defined')) > 0) rep.matched = await matchRound();
  if (rep.pilotsTimedOut || rep.jobsRequeued || rep.jobsPilotTO || rep.jobsTimelimit || rep.jobsStale)
    log.info('reaper', { ...rep });
  // Last, and never in the way of the timeouts above: a failed sweep is retried at the next run.
  // Its clock is now, not the start of this run (which may have taken seconds on a loaded
  // machine): it times how long a counter difference has been seen.
  rep.swept = await sweepIfDue(nowMs + (Date.now() - startedMs)).catch((err) => {
    log.error('sweep failed', { err: String((err as Error)?.stack ?? err) });
    return undefined;
  });
  return rep;
}

/**
 * Ends a silent pilot and, in the same transaction, its job: a job it never started goes back
 * to the queue; a running one is `pilotTO`. Conditioned on the pilot not having been heard from
 * since the reaper read it. Returns what became of the job (`none` without one), or false when
 * the pilot turned out to be alive (or was ended by someone else).
 */
async function timeOutPilot(p: PilotItem): Promise<'requeued' | 'pilotTO' | 'none' | false> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const j = p.jobId ? ((await getJobItem(p.jobId)) as Item | undefined) : undefined;
    const holds = j && j.pilotId === p.id && (j.state === 'dispatched' || j.state === 'running');
    if (!holds) return (await endPilot(p.id, 'timeout', { lastSeenAt: p.lastSeenAt })) ? 'none' : false;
    if (j.state === 'dispatched') {
      const r = await takeBack(j, {
        pilot: 'timeout',
        pilotLastSeenAt: p.lastSeenAt,
        reason: `its pilot ${p.id} lost its heartbeat before starting it`,
      });
      if (r) return r;
    } else {
      const ok = await endJob(j, 'pilotTO', {
        pilotId: p.id,
        pilot: 'timeout',
        pilotLastSeenAt: p.lastSeenAt,
        requireStateAt: true,
        info: { message: `pilot ${p.id} lost its heartbeat` },
      });
      if (ok) return 'pilotTO';
    }
    // The job or the pilot changed meanwhile: look again (a report may have arrived).
    const fresh = await getPilotItem(p.id);
    if (!fresh || fresh.lastSeenAt !== p.lastSeenAt || PILOT_ENDED.has(fresh.state)) return false;
    p = fresh;
  }
  return false;
}
