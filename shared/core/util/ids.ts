import { createHash } from 'node:crypto';

/**
 * A UUID (RFC 9562 version 8, "custom") derived from `parts`: the same parts always give the
 * same id. Work created on behalf of something that may be retried — a file's rule, run again
 * after a crashed registration — gets such ids, so a retry writes the same items (conditionally)
 * instead of new ones.
 */
export function uuidFrom(...parts: string[]): string {
  const h = createHash('sha256').update(parts.join('\u0000')).digest();
  h[6] = (h[6]! & 0x0f) | 0x80; // version 8
  h[8] = (h[8]! & 0x3f) | 0x80; // variant 10
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}
