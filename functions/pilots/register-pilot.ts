import { config } from '../../shared/config.ts';
import type { SiteConfig } from '../../shared/core/pilot/api.ts';
import { PilotRegistration } from '../../shared/core/pilot/pilot.ts';
import { registerPilot } from '../../shared/db/pilots.ts';
import { findSite } from '../../shared/db/sites.ts';
import { HttpResponse, route } from '../../shared/http/route.ts';

/** Registers a pilot (idempotent on id + key) and answers with its settings, site defaults included. */
export const handler = route({ access: 'pilot', body: PilotRegistration }, async ({ body }) => {
  const [{ pilot, created }, site] = await Promise.all([
    registerPilot(body),
    body.site ? findSite(body.site) : undefined,
  ]);
  const c = config();
  const answer: { pilot: typeof pilot; config: SiteConfig } = {
    pilot,
    config: {
      beat: site?.pilotbeat ?? c.P3S_PILOT_BEAT,
      // Paced polling answers at once and sets the pace itself (`retryAfter`): nothing to hold.
      longpoll: c.P3S_POLL_MODE === 'paced' ? 0 : c.P3S_LONGPOLL_MAX,
      period: site?.pilotperiod ?? 0,
      cycles: site?.pilotcycles ?? 0,
      lifetime: site?.pilotlife ?? null,
      env: site?.env ?? {},
      reportNext: true,
    },
  };
  return new HttpResponse(created ? 201 : 200, JSON.stringify(answer), {
    'content-type': 'application/json',
  });
});
