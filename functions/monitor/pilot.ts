import { PilotId } from '../../shared/core/pilot/api.ts';
import { listJobs } from '../../shared/db/jobs.ts';
import { getPilot } from '../../shared/db/pilots.ts';
import { page } from '../../shared/monitor/page-route.ts';
import { pilotPage } from '../../shared/monitor/pages/pilots.ts';
import { PilotPageQuery } from '../../shared/monitor/queries.ts';

/** GET /monitor/pilots/{id} — one pilot and the jobs it ran (byPilot index). */
export const handler = page(
  { access: 'viewer', path: PilotId, query: PilotPageQuery },
  async ({ path, query, caller }) => {
    const [pilot, jobs] = await Promise.all([
      getPilot(path.id),
      listJobs({ pilotId: path.id, limit: 50, cursor: query.cursor }),
    ]);
    return pilotPage({ pilot, ...jobs, ...query }, { caller, nowMs: Date.now() });
  },
);
