import { PurgeBody } from '../../shared/core/purge/purge.ts';
import { purgePage } from '../../shared/db/purge.ts';
import { route } from '../../shared/http/route.ts';

/**
 * POST /purge — one bounded page of a bulk purge (operator): ended jobs, workflows and pilots
 * and registered files older than `olderThan`; `dryRun` counts only. Call again with the
 * answer's `cursor` until there is none.
 */
export const handler = route({ access: 'operator', body: PurgeBody }, async ({ body }) => purgePage(body));
