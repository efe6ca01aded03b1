import { PILOT_KEY_HEADER, PilotId } from '../../shared/core/pilot/api.ts';
import { PilotReport } from '../../shared/core/pilot/pilot.ts';
import { reportFromPilot } from '../../shared/db/pilot-ops.ts';
import { route } from '../../shared/http/route.ts';

/** jobstart, heartbeat, jobstop, timelimit, nonstarter, killed, stopped (docs/protocol.md). */
export const handler = route(
  { access: 'pilot', path: PilotId, body: PilotReport },
  async ({ path, body, event, caller }) => {
    const r = await reportFromPilot(path.id, event.headers?.[PILOT_KEY_HEADER], caller.role, body);
    return { status: r.status, action: r.action, ...(r.next ? { next: r.next } : {}) };
  },
);
