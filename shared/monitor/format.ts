/**
 * Text for times and durations. The server renders UTC (`<time datetime>` elements); the page
 * script rewrites them to the viewer's local time and "N s ago" and keeps the ages ticking.
 */

/** "850 ms", "12.3 s", "4 min 5 s", "3 h 2 min", "2 d 4 h" — for durations and ages. */
export function duration(ms: number): string {
  if (!Number.isFinite(ms)) return '—';
  const neg = ms < 0;
  const a = Math.abs(ms);
  let s: string;
  if (a < 1000) s = `${Math.round(a)} ms`;
  else if (a < 60_000) s = `${(a / 1000).toFixed(a < 10_000 ? 1 : 0)} s`;
  else if (a < 3_600_000) s = `${Math.floor(a / 60_000)} min ${Math.floor((a % 60_000) / 1000)} s`;
  else if (a < 86_400_000) s = `${Math.floor(a / 3_600_000)} h ${Math.floor((a % 3_600_000) / 60_000)} min`;
  else s = `${Math.floor(a / 86_400_000)} d ${Math.floor((a % 86_400_000) / 3_600_000)} h`;
  return neg ? `-${s}` : s;
}

/** "N s ago" style age of a timestamp, as the page script also writes it. */
export function ago(iso: string, nowMs: number): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '';
  const s = Math.round((nowMs - t) / 1000);
  if (s < 0) return 'in the future';
  if (s < 120) return `${s} s ago`;
  if (s < 7200) return `${Math.floor(s / 60)} min ago`;
  if (s < 172_800) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** UTC text of an ISO timestamp, shown until the script localises it: `2026-01-02 10:11:12 UTC`. */
export function utc(iso: string): string {
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
}

/** Milliseconds between two ISO timestamps, or undefined if either is missing. */
export function between(from: string | undefined, to: string | undefined): number | undefined {
  if (!from || !to) return undefined;
  const d = Date.parse(to) - Date.parse(from);
  return Number.isNaN(d) ? undefined : d;
}

/** Short id for tables (full id in the link and title). */
export const shortId = (id: string): string => id.slice(0, 8);
