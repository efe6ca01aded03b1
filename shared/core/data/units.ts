import { z } from 'zod';

/**
 * Sizes and durations as operators write them (`3900M`, `1k`, `10m`, `2h`): the original tscan
 * took `find`-style arguments, and rules and the watcher keep that habit.
 */

const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** Bytes of `1234`, `1k`, `3900M`, `2G`, `1.5GiB` (binary units, as `find -size`). Undefined if malformed. */
export function parseSize(text: string | number): number | undefined {
  if (typeof text === 'number') return Number.isFinite(text) && text >= 0 ? Math.floor(text) : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)(?:i?[bB])?\s*$/.exec(text);
  if (!m) return undefined;
  return Math.floor(Number(m[1]) * SIZE_UNITS[m[2]!.toLowerCase()]!);
}

const DURATION_UNITS: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86400 };

/** Seconds of `90`, `30s`, `10m`, `2h`, `1d`. Undefined if malformed. */
export function parseDuration(text: string | number): number | undefined {
  if (typeof text === 'number') return Number.isFinite(text) && text >= 0 ? text : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$/.exec(text);
  if (!m) return undefined;
  return Number(m[1]) * DURATION_UNITS[m[2]!]!;
}

/** A byte count as a number or a size string; validated, in bytes. */
export const SizeInput = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const n = parseSize(v);
  if (n === undefined) {
    ctx.addIssue({ code: 'custom', message: 'must be a size in bytes, e.g. 1048576, 1k, 3900M, 2G' });
    return z.NEVER;
  }
  return n;
});

/** A duration as seconds or a string like `10m`; validated, in seconds. */
export const DurationInput = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const n = parseDuration(v);
  if (n === undefined) {
    ctx.addIssue({ code: 'custom', message: 'must be a duration, e.g. 60, 30s, 10m, 2h, 1d' });
    return z.NEVER;
  }
  return n;
});
