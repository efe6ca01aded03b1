import { z } from 'zod';
import { Env, SiteName } from '../job/job.ts';

/** A number, or a numeric string as the original's JSON files and form posts carried them. */
const numLike = (n: z.ZodNumber) =>
  z
    .union([
      z.number(),
      z
        .string()
        .trim()
        .regex(/^[+-]?\d+(\.\d+)?$/, 'must be a number')
        .transform(Number),
    ])
    .pipe(n);

/**
 * Site defaults for pilots that declare the site (the original's site JSON: `pilots`,
 * `pilotcycles`, `pilotperiod`, `pilotbeat`, `pilotlife`, `env`). `env` is a JSON object — the
 * original stored a Python repr and broke on quotes.
 */
export const SiteInput = z.strictObject({
  name: SiteName.optional(),
  server: z.string().max(512).optional(),
  pilots: numLike(z.number().int().min(0).max(100_000)).optional(),
  pilotcycles: numLike(z.number().int().min(0)).optional(),
  pilotperiod: numLike(z.number().min(0).max(3600)).optional(),
  pilotbeat: numLike(z.number().min(1).max(3600)).optional(),
  pilotlife: numLike(z.number().min(0)).optional(),
  env: Env.optional(),
});
export type SiteInput = z.infer<typeof SiteInput>;
export type Site = SiteInput & { name: string; updatedAt: string };
