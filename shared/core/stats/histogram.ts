/**
 * Latency histogram with fixed, roughly logarithmic bucket bounds (ms). Per-minute histograms are
 * summed for a window and percentiles read off the cumulative counts — cheap to keep in DynamoDB
 * (one ADD per job) and exact to the bucket.
 */
export const BOUNDS_MS = [
  5,
  10,
  20,
  50,
  100,
  200,
  500,
  1000,
  2000,
  5000,
  10_000,
  30_000,
  60_000,
  Number.POSITIVE_INFINITY,
];

export function bucketOf(ms: number): number {
  const i = BOUNDS_MS.findIndex((b) => ms < b);
  return i < 0 ? BOUNDS_MS.length - 1 : i;
}

/** Sums histograms (arrays of counts by bucket). */
export function sum(hs: number[][]): number[] {
  const out = new Array<number>(BOUNDS_MS.length).fill(0);
  for (const h of hs) {
    h.forEach((n, i) => {
      out[i] = (out[i] ?? 0) + n;
    });
  }
  return out;
}

/** The upper bound of the bucket holding the p-th percentile (0 < p ≤ 100), or null for no data. */
export function percentile(h: number[], p: number): number | null {
  const total = h.reduce((a, b) => a + b, 0);
  if (!total) return null;
  const rank = Math.ceil((p / 100) * total);
  let seen = 0;
  for (let i = 0; i < h.length; i++) {
    seen += h[i] ?? 0;
    if (seen >= rank) return BOUNDS_MS[i] === Number.POSITIVE_INFINITY ? BOUNDS_MS[i - 1]! : BOUNDS_MS[i]!;
  }
  return null;
}

/** Minute bucket key of an ISO timestamp: `2026-11-25T17:45`. */
export const minuteOf = (iso: string) => iso.slice(0, 16);
