/** Output helpers: `--json` prints only JSON on stdout; otherwise small aligned tables. */
export interface Out {
  json: boolean;
}

export function emit(out: Out, data: unknown, human: () => string): void {
  if (out.json) process.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
  else process.stdout.write(`${human()}\n`);
}

/** Widest a table column gets; longer values are cut with an ellipsis. */
const MAX_CELL = 60;
/** Narrowest a column is squeezed to when the table is wider than the terminal. */
const MIN_CELL = 8;

/** A value cut to `max` characters, the cut marked with `…` (never silently). */
export function clip(s: string, max: number): string {
  const chars = [...s];
  return chars.length > max ? `${chars.slice(0, Math.max(1, max - 1)).join('')}…` : s;
}

const cellText = (v: unknown) =>
  v === undefined || v === null
    ? ''
    : typeof v === 'object'
      ? JSON.stringify(v)
      : String(v).replace(/\s*\n\s*/g, ' ');

/**
 * An aligned table. A value longer than its column ends in `…`; on a terminal, the widest
 * columns are narrowed until a line fits its width (`width`, default the terminal's).
 */
export function table(
  rows: Record<string, unknown>[],
  columns: string[],
  width: number | undefined = process.stdout.isTTY ? process.stdout.columns : undefined,
): string {
  if (!rows.length) return '(none)';
  const len = (s: string) => [...s].length;
  const widths = columns.map((c) =>
    Math.max(c.length, ...rows.map((r) => Math.min(MAX_CELL, len(cellText(r[c]))))),
  );
  if (width) {
    const total = () => widths.reduce((a, w) => a + w, 0) + 2 * (widths.length - 1);
    while (total() > width) {
      const widest = widths.indexOf(Math.max(...widths));
      if (widths[widest]! <= MIN_CELL) break;
      widths[widest]!--;
    }
  }
  const line = (vals: string[]) =>
    vals
      .map((v, i) => {
        const s = clip(v, widths[i]!);
        return s + ' '.repeat(Math.max(0, widths[i]! - len(s)));
      })
      .join('  ')
      .trimEnd();
  return [
    line(columns.map((c) => c.toUpperCase())),
    ...rows.map((r) => line(columns.map((c) => cellText(r[c])))),
  ].join('\n');
}

/**
 * Field orders of `show`: the id first, then the fields in the order the monitor's detail page
 * lists them; fields not named here follow by name, so the order never depends on the server.
 */
export const FIELD_ORDER = {
  job: [
    'id',
    'name',
    'state',
    'jobtype',
    'payload',
    'priority',
    'timelimit',
    'held',
    'user',
    'site',
    'inputFile',
    'pilotId',
    'host',
    'pid',
    'exitCode',
    'signal',
    'message',
    'killRequested',
    'workflowId',
    'vertex',
    'createdAt',
    'definedAt',
    'dispatchedAt',
    'startedAt',
    'payloadStartedAt',
    'endedAt',
    'stateAt',
    'tailAt',
    'env',
    'stdoutTail',
    'stderrTail',
  ],
  pilot: [
    'id',
    'state',
    'host',
    'site',
    'pid',
    'extra',
    'version',
    'resources',
    'jobId',
    'jobcount',
    'drain',
    'kill',
    'registeredAt',
    'lastSeenAt',
    'idleSince',
    'endedAt',
    'stateAt',
  ],
  workflow: [
    'id',
    'name',
    'dag',
    'state',
    'progress',
    'user',
    'nvertices',
    'nedges',
    'ndone',
    'inputFile',
    'dataId',
    'rule',
    'createdAt',
    'definedAt',
    'startedAt',
    'endedAt',
    'stateAt',
    'fileinfo',
    'jobinfo',
  ],
  site: [
    'name',
    'server',
    'pilots',
    'pilotcycles',
    'pilotperiod',
    'pilotbeat',
    'pilotlife',
    'env',
    'updatedAt',
  ],
  data: [
    'id',
    'name',
    'state',
    'location',
    'dirpath',
    'size',
    'datatype',
    'source',
    'user',
    'comment',
    'registeredAt',
    'announcements',
    'lastAnnouncedAt',
    'jobIds',
    'triggers',
  ],
  dag: ['name', 'description', 'nvertices', 'nedges', 'roots', 'user', 'createdAt', 'updatedAt'],
  rule: [
    'name',
    'enabled',
    'comment',
    'match',
    'action',
    'sampling',
    'limit',
    'dedupe',
    'user',
    'createdAt',
    'updatedAt',
  ],
} as const;

/** The object with its keys in `order`, then every other key by name (values untouched). */
export function ordered<T extends Record<string, unknown>>(obj: T, order: readonly string[]): T {
  const out: Record<string, unknown> = {};
  for (const k of order) if (Object.hasOwn(obj, k)) out[k] = obj[k];
  for (const k of Object.keys(obj).sort()) if (!Object.hasOwn(out, k)) out[k] = obj[k];
  return out as T;
}

export function keyValues(obj: Record<string, unknown>): string {
  const keys = Object.keys(obj);
  const w = Math.max(...keys.map((k) => k.length));
  return keys
    .map((k) => {
      const v = obj[k];
      return `${k.padEnd(w)}  ${v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v)}`;
    })
    .join('\n');
}

/**
 * The line under a listing page: the cursor of the next page, and — when the server stopped on
 * its read budget (a filter that matches little) — how far back it searched.
 */
export function morePages(r: { nextCursor?: string; searchedBackTo?: string }): string {
  if (!r.nextCursor) return r.searchedBackTo ? `\n(searched back to ${r.searchedBackTo})` : '';
  const searched = r.searchedBackTo ? `searched back to ${r.searchedBackTo}; ` : '';
  return `\n(${searched}more: --cursor ${r.nextCursor})`;
}
