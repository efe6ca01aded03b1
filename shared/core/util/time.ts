/** Server time as ISO-8601 UTC with milliseconds: the only timestamp format p3s stores. */
export function nowIso(ms: number = Date.now()): string {
  return new Date(ms).toISOString();
}

/** Epoch seconds for DynamoDB TTL attributes. */
export function ttlAfterDays(days: number, fromMs: number = Date.now()): number {
  return Math.floor(fromMs / 1000 + days * 86400);
}
