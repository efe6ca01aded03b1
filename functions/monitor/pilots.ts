import { listPilots } from '../../shared/db/pilots.ts';
import { page } from '../../shared/monitor/page-route.ts';
import { pilotsPage } from '../../shared/monitor/pages/pilots.ts';
import { PilotsQuery } from '../../shared/monitor/queries.ts';

/** Most pilots a host filter looks through (the pilots table is small: TTL purge). */
const HOST_SCAN = 5000;

/** GET /monitor/pilots — pilots, newest registration first. */
export const handler = page({ access: 'viewer', query: PilotsQuery }, async ({ query, caller }) => {
  const upTo = query.host ? HOST_SCAN : query.page * query.limit + 1;
  const found = await listPilots({ state: query.state, site: query.site, limit: upTo });
  const all = query.host ? found.filter((p) => p.host.includes(query.host!)) : found;
  const pages = Math.max(1, Math.ceil(all.length / query.limit));
  const at = Math.min(query.page, pages);
  const pilots = all.slice((at - 1) * query.limit, at * query.limit);
  return pilotsPage({ pilots, pages, query }, { caller, nowMs: Date.now() });
});
