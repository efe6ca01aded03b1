import { page } from '../../shared/monitor/page-route.ts';
import { dashboardPage } from '../../shared/monitor/pages/dashboard.ts';
import { DashboardQuery } from '../../shared/monitor/queries.ts';
import { loadSnapshot } from '../../shared/monitor/snapshot.ts';

/** GET / — the dashboard (counters and aggregates only; live refresh via /monitor/live.json). */
export const handler = page({ access: 'viewer', query: DashboardQuery }, async ({ query, caller }) => {
  const nowMs = Date.now();
  return dashboardPage(await loadSnapshot(nowMs), { caller, nowMs }, query.refresh);
});
