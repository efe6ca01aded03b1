import { PilotListQuery } from '../../shared/core/pilot/api.ts';
import { listPilots } from '../../shared/db/pilots.ts';
import { route } from '../../shared/http/route.ts';

export const handler = route({ access: 'viewer', query: PilotListQuery }, async ({ query }) => ({
  pilots: await listPilots(query),
}));
