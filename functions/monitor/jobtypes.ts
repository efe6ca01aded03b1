import { page } from '../../shared/monitor/page-route.ts';
import { jobtypesPage } from '../../shared/monitor/pages/jobtypes.ts';
import { JobtypesQuery } from '../../shared/monitor/queries.ts';
import { loadSummary } from '../../shared/monitor/snapshot.ts';

/** GET /monitor/jobtypes — job types with their caps and live load (from the counters). */
export const handler = page({ access: 'viewer', query: JobtypesQuery }, async ({ query, caller }) => {
  const nowMs = Date.now();
  const s = await loadSummary(nowMs);
  return jobtypesPage({ all: s.jobtypes, query }, { caller, nowMs });
});
