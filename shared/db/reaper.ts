import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { config, tableName } from '../config.ts';
import type { JobState } from '../core/job/job.ts';
import { log } from '../log.ts';
import { db } from './client.ts';
import { endJob, matchRound } from './dispatch.ts';
import { getJobItem } from './jobs.ts';
import { listJobtypes } from './jobtypes.ts';
import { endPilot, freePilot, livePilots, requestJobKill } from './pilots.ts';
import { shedQueues } from './shedding.ts';
import { type SweepReport, sweepIfDue } from './sweeper.ts';

export interface ReapReport {
  pilotsTimedOut: number;
  jobsPilotTO: number;
  jobsTimelimit: number;
  jobsStale: number;
  matched: number;
  /** What the sweeper repaired, when a sweep was due (shared/db/sweeper.ts). */
  swept?: SweepReport;
}

type Item = Record<string, unknown> & { id: string; jobtype: string; state: JobState; stateAt: string };

async function inState(state: JobState, olderThanIso?: string): Promise<Item[]> {
  const out: Item[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const r = await db().send(
      new QueryCommand({
        TableName: tableName('jobs'),
        IndexName: 'byState',
        KeyConditionExpression: olderThanIso ? '#s = :s AND stateAt < :t' : '#s = :s',
        ExpressionAttributeNames: { '#s': 'state' },
        ExpressionAttributeValues: olderThanIso ? { ':s': state, ':t': olderThanIso } : { ':s': state },
        ExclusiveStartKey: start,
      }),
    );
    out.push(...((r.Items ?? []) as Item[]));
    start = r.LastEvaluatedKey;
  } while (start);
  return out;
}

/**
 * The reaper (scheduled): every timeout p3s has, each ending jobs through `endJob` so the cap
 * slot is freed in the same transaction. Every ending is conditional on the state (and time) the
 * reaper saw, so a report that arrives meanwhile wins cleanly. It closes with a matchmaking
 * round, which also covers stream records lost while the stack was down.
 */
export async function reap(nowMs = Date.now()): Promise<ReapReport> {
  const c = config();
  const rep: ReapReport = { pilotsTimedOut: 0, jobsPilotTO: 0, jobsTimelimit: 0, jobsStale: 0, matched: 0 };

  // 1. Pilots that stopped heart-beating → timeout; their job → pilotTO.
  for (const p of await livePilots()) {
    // An idle pilot is seen only when it polls, and a held poll lasts up to P3S_LONGPOLL_MAX.
    const allowed = (c.P3S_HEARTBEAT_TIMEOUT + (p.state === 'waiting' ? c.P3S_LONGPOLL_MAX : 0)) * 1000;
    if (nowMs - Date.parse(p.lastSeenAt) <= allowed) continue;
    if (!(await endPilot(p.id, 'timeout', { lastSeenAt: p.lastSeenAt }))) continue;
    rep.pilotsTimedOut++;
    if (p.jobId) {
      const j = (await getJobItem(p.jobId)) as Item | undefined;
      if (j && (j.state === 'dispatched' || j.state === 'running') && j.pilotId === p.id) {
        if (await endJob(j, 'pilotTO', { info: { message: `pilot ${p.id} lost its heartbeat` } }))
          rep.jobsPilotTO++;
      }
    }
  }

  // 2. Dispatched but never started within the grace → pilotTO (the pilot is freed if it still holds it).
  const graceIso = new Date(nowMs - c.P3S_DISPATCH_GRACE * 1000).toISOString();
  for (const j of await inState('dispatched', graceIso)) {
    const ok = await endJob(j, 'pilotTO', {
      requireStateAt: true,
      info: { message: 'dispatched but never started' },
    });
    if (ok) {
      rep.jobsPilotTO++;
      if (j.pilotId) await freePilot(String(j.pilotId), j.id);
    }
  }

  // 3. Running past timelimit + grace → timelimit (the pilot should have done it; tell it to kill).
  for (const j of await inState('running')) {
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
  const deadlines = new Map(
    (await listJobtypes()).filter((t) => t.deadline !== undefined).map((t) => [t.name, t.deadline!]),
  );
  if (deadlines.size) {
    for (const j of await inState('defined')) {
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

  rep.matched = await matchRound({ staleMs: (c.P3S_LONGPOLL_MAX + c.P3S_HEARTBEAT_TIMEOUT) * 1000 });
  if (rep.pilotsTimedOut || rep.jobsPilotTO || rep.jobsTimelimit || rep.jobsStale)
    log.info('reaper', { ...rep });
  // Last, and never in the way of the timeouts above: a failed sweep is retried at the next run.
  rep.swept = await sweepIfDue(nowMs).catch((err) => {
    log.error('sweep failed', { err: String((err as Error)?.stack ?? err) });
    return undefined;
  });
  return rep;
}
