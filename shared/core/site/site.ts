import { z } from 'zod';
import { Env, SiteName } from '../job/job.ts';

/**
 * Site defaults for pilots that declare the site (the original's site JSON: `pilots`,
 * `pilotcycles`, `pilotperiod`, `pilotbeat`, `pilotlife`, `env`). `env` is a JSON object — the
 * original stored a Python repr and broke on quotes.
 */
export const SiteInput = z.strictObject({
  name: SiteName.optional(),
  server: z.string().max(512).optional(),
  pilots: z.number().int().min(0).max(100_000).optional(),
  pilotcycles: z.number().int().min(0).optional(),
  pilotperiod: z.number().min(0).max(3600).optional(),
  pilotbeat: z.number().min(1).max(3600).optional(),
  pilotlife: z.number().min(0).optional(),
  env: Env.optional(),
});
export type SiteInput = z.infer<typeof SiteInput>;
export type Site = SiteInput & { name: string; updatedAt: string };
