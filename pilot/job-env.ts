/**
 * A payload's environment and how to run it. Layers, later wins: the pilot's own variables
 * that pass the allow-list, the site's env (register config), the job's env, and last the
 * variables the pilot owns (P3S_JOB_UUID, P3S_PILOT_UUID, P3S_SITE) so a job cannot fake them.
 */

/** Never handed to a payload, whatever the allow-list says: it would let a job act as the pilot. */
const NEVER = new Set(['P3S_TOKEN']);

/** The pilot's variables whose name is in `allow` (an entry ending in `*` is a prefix). */
export function allowedEnv(env: NodeJS.ProcessEnv, allow: readonly string[]): Record<string, string> {
  const exact = new Set(allow.filter((a) => !a.endsWith('*')));
  const prefixes = allow.filter((a) => a.endsWith('*')).map((a) => a.slice(0, -1));
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined || NEVER.has(k)) continue;
    if (exact.has(k) || prefixes.some((p) => k.startsWith(p))) out[k] = v;
  }
  return out;
}

export interface EnvLayers {
  pilotEnv: NodeJS.ProcessEnv;
  allow: readonly string[];
  siteEnv: Record<string, string>;
  jobEnv: Record<string, string>;
  jobId: string;
  pilotId: string;
  site?: string;
}

export function jobEnvironment(l: EnvLayers): Record<string, string> {
  const env = { ...allowedEnv(l.pilotEnv, l.allow), ...l.siteEnv, ...l.jobEnv };
  env.P3S_JOB_UUID = l.jobId;
  env.P3S_PILOT_UUID = l.pilotId;
  if (l.site) env.P3S_SITE = l.site;
  return env;
}

export type ExecMode = 'direct' | 'shell' | 'copy';

/**
 * Read from the payload's final environment, as the original did (so a site can set it too):
 * P3S_MODE=COPY (any case) wins, then any non-empty P3S_EXECMODE means the shell.
 */
export function execMode(env: Record<string, string>): ExecMode {
  if (env.P3S_MODE?.toUpperCase() === 'COPY') return 'copy';
  if (env.P3S_EXECMODE) return 'shell';
  return 'direct';
}
