/** Output helpers: `--json` prints only JSON on stdout; otherwise small aligned tables. */
export interface Out {
  json: boolean;
}

export function emit(out: Out, data: unknown, human: () => string): void {
  if (out.json) process.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
  else process.stdout.write(`${human()}\n`);
}

export function table(rows: Record<string, unknown>[], columns: string[]): string {
  if (!rows.length) return '(none)';
  const cell = (v: unknown) =>
    v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => Math.min(60, cell(r[c]).length))));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => v.slice(0, 60).padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [
    line(columns.map((c) => c.toUpperCase())),
    ...rows.map((r) => line(columns.map((c) => cell(r[c])))),
  ].join('\n');
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
