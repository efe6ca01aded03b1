import { PILOT_KEY_HEADER, PilotId } from '../../shared/core/pilot/api.ts';
import { PilotReport } from '../../shared/core/pilot/pilot.ts';
import { applyLightReport, applyReport } from '../../shared/db/pilot-ops.ts';
import { authorisePilot, authorisePilotKey } from '../../shared/db/pilots.ts';
import { route } from '../../shared/http/route.ts';

/** jobstart, heartbeat, jobstop, timelimit, nonstarter, killed, stopped (docs/protocol.md). */
export const handler = route(
  { access: 'pilot', path: PilotId, body: PilotReport },
  async ({ path, body, event, caller }) => {
    const key = event.headers?.[PILOT_KEY_HEADER];
    // jobstart and heartbeats need no read of the pilot: their own writes are conditional.
    const light = body.event === 'jobstart' || body.event === 'heartbeat';
    const pilot = light
      ? await authorisePilotKey(path.id, key, caller.role)
      : await authorisePilot(path.id, key, caller.role);
    const r = pilot ? await applyReport(pilot, body) : await applyLightReport(path.id, body);
    return { status: r.status, action: r.action, ...(r.next ? { next: r.next } : {}) };
  },
);
