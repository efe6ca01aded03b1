import { config } from '../../shared/config.ts';
import { reap } from '../../shared/db/reaper.ts';

let lastPilotScan = 0;

/**
 * Scheduled: heartbeat, dispatch, time-limit and deadline timeouts, then a matching round. The
 * heartbeat step reads every live pilot, so it runs at most every quarter heartbeat timeout: on
 * AWS (a run a minute) every run; on the local stack (a run every 2 s) every 15 s with the
 * default 60 s timeout — 2,000 idle pilots are not read 30 times a minute. A lost pilot is
 * found at most a quarter timeout later.
 */
export const handler = async () => {
  const c = config();
  const now = Date.now();
  const pilots = now - lastPilotScan >= Math.max(c.P3S_REAPER_INTERVAL, c.P3S_HEARTBEAT_TIMEOUT / 4) * 1000;
  if (pilots) lastPilotScan = now;
  return reap(now, { pilots });
};
