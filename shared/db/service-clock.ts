import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { config, tableName } from '../config.ts';
import { log } from '../log.ts';
import { db } from './client.ts';

/**
 * Time the service itself was unavailable is never counted against pilots (docs/matching.md,
 * "Server downtime"). The reaper keeps one record, `service`/`reaper` in the stats table:
 *
 * - `lastRunAt`: when it last ran. A gap of more than three reaper intervals (at least 10 s)
 *   means the service — or at least the reaper — was down: `upSince` becomes now, and every
 *   pilot deadline restarts from there. On the local stack the reaper runs in the API's own
 *   process, so this is all an outage needs.
 * - `apiDownSince`: on AWS the API (API Gateway + its functions) can be unreachable while the
 *   scheduled reaper still runs. The reaper then probes the API's `/healthz` (`P3S_API_URL`,
 *   set by serverless.yml): while the probe fails nobody is timed out (pilots cannot report to
 *   a server that is not there), and when it answers again `upSince` becomes that moment.
 *   When the probe answers and pilots are silent, the silence is theirs (or their network's).
 *
 * Pilot deadlines are `max(lastSeenAt, upSince) + timeout`: at least one full
 * `P3S_HEARTBEAT_TIMEOUT` after the service is back.
 */
export interface ServiceClock {
  /** Deadlines that depend on pilots being able to reach the server start no earlier than this. */
  upSinceMs: number;
  /** The API did not answer the reaper's probe: time nobody out. */
  suspectServer: boolean;
}

const KEY = { pk: 'service', sk: 'reaper' };

interface ClockItem {
  lastRunAt?: string;
  upSince?: string;
  apiDownSince?: string;
}

/** Whether the API answers its health check; undefined where the reaper runs inside the API (local stack). */
export async function probeApi(): Promise<boolean | undefined> {
  const url = config().P3S_API_URL;
  if (!url) return undefined;
  try {
    const r = await fetch(`${url.replace(/\/$/, '')}/healthz`, { signal: AbortSignal.timeout(5000) });
    return r.ok;
  } catch {
    return false;
  }
}

/** Reads and advances the clock for a reaper run at `nowMs`, given the probe's answer. */
export async function serviceClock(nowMs: number, apiUp: boolean | undefined): Promise<ServiceClock> {
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
  let apiDownSince = prev.apiDownSince;
  if (apiUp === false) {
    if (!apiDownSince)
      log.warn('the API does not answer: timing no pilot out until it does', { url: c.P3S_API_URL });
    apiDownSince ??= now;
  } else if (apiDownSince) {
    log.warn('the API answers again: pilot deadlines restart now', { apiDownSince });
    apiDownSince = undefined;
    upSince = now;
  }
  await db().send(
    new PutCommand({
      TableName: tableName('stats'),
      Item: { ...KEY, lastRunAt: now, upSince, apiDownSince },
    }),
  );
  return { upSinceMs: Date.parse(upSince), suspectServer: apiUp === false };
}
