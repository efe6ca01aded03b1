import { route } from '../../shared/http/route.ts';
import { dashboardParts } from '../../shared/monitor/pages/dashboard.ts';
import { LiveQuery } from '../../shared/monitor/queries.ts';
import { loadSnapshot } from '../../shared/monitor/snapshot.ts';

/**
 * GET /monitor/live.json — the dashboard's data and its re-rendered parts, for the live refresh
 * (the dashboard's script fetches it with the sign-in cookie).
 */
export const handler = route({ access: 'viewer', query: LiveQuery, cookie: true }, async ({ query }) => {
  const nowMs = Date.now();
  const snapshot = await loadSnapshot(nowMs, query.trend);
  return { ...snapshot, parts: dashboardParts(snapshot, nowMs) };
});
