import { config } from '../config.ts';

/**
 * Failed authentications per source address, in this container: a token bucket of
 * `P3S_AUTH_FAIL_BURST` failures refilled at `P3S_AUTH_FAIL_PER_MIN`. It bounds what one address
 * can make this container do with bad credentials (each unknown token id costs a read of the
 * tokens table) and how fast it can guess. Per container, not global: on AWS each Lambda
 * container keeps its own, and API Gateway's throttling bounds the total (docs/security.md).
 */
interface Bucket {
  /** Failures still allowed, as of `at`. */
  left: number;
  at: number;
}

/** Addresses remembered at most; the least recently failing is forgotten first. */
const MAX_ADDRESSES = 10_000;
const buckets = new Map<string, Bucket>();

function settings() {
  const c = config();
  return { burst: c.P3S_AUTH_FAIL_BURST, perMs: c.P3S_AUTH_FAIL_PER_MIN / 60_000 };
}

function current(ip: string, nowMs: number): Bucket | undefined {
  const b = buckets.get(ip);
  if (!b) return undefined;
  const { burst, perMs } = settings();
  b.left = Math.min(burst, b.left + (nowMs - b.at) * perMs);
  b.at = nowMs;
  if (b.left >= burst) {
    buckets.delete(ip);
    return undefined;
  }
  return b;
}

/**
 * Seconds until `ip` may fail again, or 0 when it may now. An address with no failures left gets
 * a 429 before its token is looked up.
 */
export function blockedFor(ip: string, nowMs = Date.now()): number {
  if (settings().burst === 0) return 0;
  const b = current(ip, nowMs);
  if (!b || b.left >= 1) return 0;
  return Math.max(1, Math.ceil((1 - b.left) / settings().perMs / 1000));
}

/** Counts one failed authentication from `ip`. */
export function noteFailure(ip: string, nowMs = Date.now()): void {
  const { burst } = settings();
  if (burst === 0) return;
  const b = current(ip, nowMs) ?? { left: burst, at: nowMs };
  b.left = Math.max(0, b.left - 1);
  // Re-inserted, so the Map's order is least recently failing first.
  buckets.delete(ip);
  buckets.set(ip, b);
  if (buckets.size > MAX_ADDRESSES) buckets.delete(buckets.keys().next().value!);
}
