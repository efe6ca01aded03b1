import { PilotListQuery } from '../../shared/core/pilot/api.ts';
import { listPilots } from '../../shared/db/pilots.ts';
import { route } from '../../shared/http/route.ts';

/** Most pilots a list filter (`state=a,b`) looks through, in memory (TTL keeps the table small). */
const LIST_SCAN = 5000;

export const handler = route({ access: 'viewer', query: PilotListQuery }, async ({ query }) => {
  const { state, site, limit } = query;
  if ((state?.length ?? 0) <= 1 && (site?.length ?? 0) <= 1)
    return { pilots: await listPilots({ state: state?.[0], site: site?.[0], limit }) };
  const all = await listPilots({ limit: LIST_SCAN });
  const pilots = all.filter(
    (p) => (!state || state.includes(p.state)) && (!site || (p.site !== undefined && site.includes(p.site))),
  );
  return { pilots: pilots.slice(0, limit) };
});
