import { listSites } from '../../shared/db/sites.ts';
import { page } from '../../shared/monitor/page-route.ts';
import { sitesPage } from '../../shared/monitor/pages/catalog.ts';
import { loadLivePilots } from '../../shared/monitor/snapshot.ts';

/** GET /monitor/sites — every site's pilot defaults and its live pilots. */
export const handler = page({ access: 'viewer' }, async ({ caller }) => {
  const nowMs = Date.now();
  const [sites, pilots] = await Promise.all([listSites(), loadLivePilots(nowMs)]);
  return sitesPage({ sites, pilots }, { caller, nowMs });
});
