import { reap } from '../../shared/db/reaper.ts';

/** Scheduled: heartbeat, dispatch, time-limit and deadline timeouts, then a matching round. */
export const handler = async () => reap();
