import { PILOT_KEY_HEADER, PilotId, PollBody } from '../../shared/core/pilot/api.ts';
import { pollForWork } from '../../shared/db/pilot-ops.ts';
import { authorisePilot } from '../../shared/db/pilots.ts';
import { route } from '../../shared/http/route.ts';
import { wakeups } from '../../shared/wakeups.ts';

/** A pilot asks for work; held open up to `wait` seconds when there is none (long poll). */
export const handler = route(
  { access: 'pilot', path: PilotId, body: PollBody },
  async ({ path, body, event, caller }) => {
    const pilot = await authorisePilot(path.id, event.headers?.[PILOT_KEY_HEADER], caller.role);
    return pollForWork(pilot, body.wait, wakeups().requestGone(event.requestContext?.requestId));
  },
);
