import { PilotId } from '../../shared/core/pilot/api.ts';
import { getPilot } from '../../shared/db/pilots.ts';
import { route } from '../../shared/http/route.ts';

export const handler = route({ access: 'viewer', path: PilotId }, async ({ path }) => getPilot(path.id));
