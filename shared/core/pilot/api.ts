import { z } from 'zod';
import { SiteName } from '../job/job.ts';
import { csvOf } from '../util/csv.ts';
import { PilotState } from './pilot.ts';

export const PilotId = z.object({ id: z.uuid('not a pilot id') });
export const PollBody = z.strictObject({ wait: z.number().min(0).max(600).default(0) });
export const PilotListQuery = z.strictObject({
  state: csvOf(PilotState).optional(),
  site: csvOf(SiteName).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});
export const KillBody = z
  .strictObject({
    id: z.uuid().optional(),
    host: z.string().min(1).max(255).optional(),
    site: SiteName.optional(),
    all: z.literal(true).optional(),
    mode: z.enum(['kill', 'drain']).default('kill'),
  })
  .refine((b) => b.id || b.host || b.site || b.all, 'name the pilots: id, host, site, or all: true');

/** The pilot key header (docs/protocol.md). */
export const PILOT_KEY_HEADER = 'x-p3s-pilot-key';

/**
 * The protocol's answers (docs/protocol.md), one definition for the server and the pilot: the
 * pilot imports these types (`import type`: nothing of the server's code runs in the pilot).
 */

/** What a pilot receives at registration: its settings, with its site's defaults. */
export interface SiteConfig {
  beat: number;
  longpoll: number;
  period: number;
  cycles: number;
  lifetime: number | null;
  env: Record<string, string>;
}

/** The answer to a poll. `retryAfter`: seconds before the next poll (0: at once). */
export type PollAnswerOf<J> =
  | { state: 'dispatched'; job: J }
  | { state: 'no jobs'; retryAfter: number }
  | { state: 'drain' }
  | { state: 'killed' };
