import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { config, tableName } from '../config.ts';
import { log } from '../log.ts';
import { db } from './client.ts';

/**
 * Time the service itself was unavailable is never counted against pilots (docs/matching.md,
 * "Server downtime"). The reaper keeps one record, `service`/`reaper` in the stats table:
 *
 * - `lastRunAt`: when its last run completed. A gap of more than three reaper intervals (at
 *   least 10 s) since then means the service — or at least the reaper — was down: `upSince`
 *   becomes now, and every pilot deadline restarts from there.
 * - `silentSince`: set while no live pilot at all has been heard from for a heartbeat timeout
 *   although at least two are registered. Pilots heart-beat every few seconds, so total
 *   silence is far more likely the API being unreachable (an outage on AWS while the scheduled
 *   reaper still runs) than every pilot dying at once: nothing is timed out while it lasts, and
 *   when pilots are heard again `upSince` becomes that moment. The suspicion is bounded
 *   (SILENCE_MAX_TIMEOUTS heartbeat timeouts), so a fleet that really died is reaped late, not never.
 *   One lone pilot's silence is its own.
 *
 * Pilot deadlines are then `max(lastSeenAt, upSince) + timeout`: at least one full
 * `P3S_HEARTBEAT_TIMEOUT` after the service is back.
 */
export interface ServiceClock {
  /** Deadlines that depend on pilots being able to reach the server start no earlier than this. */
  upSinceMs: number;
  /** No pilot was heard for a heartbeat timeout: suspect the server, time nobody out. */
  suspectServer: boolean;
}

const KEY = { pk: 'service', sk: 'reaper' };
const SILENCE_MAX_TIMEOUTS = 10;

interface ClockItem {
  lastRunAt?: string;
  upSince?: string;
  silentSince?: string;
}

/** Reads and advances the clock for a reaper run at `nowMs` that sees these live pilots. */
export async function serviceClock(nowMs: number, live: { lastSeenAt: string }[]): Promise<ServiceClock> {
  const c = config();
  const r = await db().send(
    new GetCommand({ TableName: tableName('stats'), Key: KEY, ConsistentRead: true }),
  );
  const prev = (r.Item ?? {}) as ClockItem;
  const now = new Date(nowMs).toISOString();
  let upSince = prev.upSince ?? now;
  const gapMs = Math.max(3 * c.P3S_REAPER_INTERVAL, 10) * 1000;
  if (!prev.lastRunAt || nowMs - Date.parse(prev.lastRunAt) > gapMs) {
    if (prev.lastRunAt)
      log.warn('the reaper did not run for a while: pilot deadlines restart now', {
        lastRunAt: prev.lastRunAt,
        gapSec: Math.round((nowMs - Date.parse(prev.lastRunAt)) / 1000),
      });
    upSince = now;
  }

  const hbMs = c.P3S_HEARTBEAT_TIMEOUT * 1000;
  const latestSeen = Math.max(0, ...live.map((p) => Date.parse(p.lastSeenAt) || 0));
  let silentSince = prev.silentSince;
  let suspectServer = false;
  if (live.length >= 2 && nowMs - latestSeen > hbMs) {
    silentSince ??= new Date(latestSeen).toISOString();
    suspectServer = nowMs - Date.parse(silentSince) <= SILENCE_MAX_TIMEOUTS * hbMs;
    if (suspectServer && !prev.silentSince)
      log.warn('no pilot heard from for a heartbeat timeout: suspecting the server, timing nobody out', {
        livePilots: live.length,
        silentSince,
      });
  } else if (silentSince) {
    log.warn('pilots heard from again: their deadlines restart now', { silentSince });
    silentSince = undefined;
    upSince = now;
  }
  await db().send(
    new PutCommand({
      TableName: tableName('stats'),
      Item: { ...KEY, lastRunAt: now, upSince, silentSince },
    }),
  );
  return { upSinceMs: Date.parse(upSince), suspectServer };
}
