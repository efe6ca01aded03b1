import { createHash } from 'node:crypto';

/**
 * Deterministic sampling (docs/design.md §6): a file's sample value is a hash of its **name** mapped to
 * [0, 1), and a fraction f keeps the files whose value is below f. So a replay (the same file
 * announced again, from another source, or after a restart) decides the same way, and sampling
 * is nested: every file kept at 0.1 is also kept at 0.25, so a rule and its job types sample
 * coherently (the files processed by the cheap 10% stream are among those of the 25% stream).
 */
export function sampleValue(name: string): number {
  const h = createHash('sha256').update(name).digest();
  // 48 bits: exact in a double, plenty of resolution for fractions.
  return h.readUIntBE(0, 6) / 2 ** 48;
}

/** Whether a file with this name is kept at `fraction` (absent or ≥ 1 keeps everything). */
export function sampledIn(name: string, fraction: number | undefined | null): boolean {
  if (fraction === undefined || fraction === null || fraction >= 1) return true;
  if (fraction <= 0) return false;
  return sampleValue(name) < fraction;
}
