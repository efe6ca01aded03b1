import { KillBody } from '../../shared/core/pilot/api.ts';
import { flagPilots } from '../../shared/db/pilots.ts';
import { route } from '../../shared/http/route.ts';

/** Kill or drain pilots by id, host or site; they learn it at their next poll or heartbeat. */
export const handler = route({ access: 'operator', body: KillBody }, async ({ body }) => {
  const ids = await flagPilots({ id: body.id, host: body.host, site: body.site }, body.mode);
  return { mode: body.mode, pilots: ids };
});
