import { ago as agoText, utc } from './format.ts';
import { type Child, type Html, html, url } from './html.ts';
import { stateClass } from './states.ts';

/**
 * Building blocks of the pages. Every one goes through `html`, so whatever a row carries is
 * escaped; none of them reads data.
 */

/** A timestamp: UTC until the page script shows it in local time (full ISO in the tooltip). */
export function when(iso: string | undefined): Html {
  if (!iso) return html`<span class="muted">—</span>`;
  return html`<time datetime="${iso}" title="${iso}">${utc(iso)}</time>`;
}

/** "N s ago", kept ticking by the page script. */
export function ago(iso: string | undefined, nowMs: number): Html {
  if (!iso) return html`<span class="muted">—</span>`;
  return html`<time class="ago" datetime="${iso}" title="${iso}">${agoText(iso, nowMs)}</time>`;
}

/** Local time and age together: `2026-01-02 10:11:12 (5 s ago)`. */
export function whenAgo(iso: string | undefined, nowMs: number): Html {
  if (!iso) return html`<span class="muted">—</span>`;
  return html`${when(iso)} <span class="muted">(${ago(iso, nowMs)})</span>`;
}

export function badge(state: string | undefined): Html {
  return html`<span class="badge ${stateClass(state)}">${state ?? 'unknown'}</span>`;
}

/**
 * A column of a sortable table. `value` is what sorting compares; `cell` what is shown. A table
 * whose columns give a `width` fits the page: fixed widths (xs…xl, in characters) for the
 * columns that have one, the rest share what is left, and every cell is one line cut with an
 * ellipsis, its full text (`title`, else `value`) in the tooltip.
 */
export interface Column<T> {
  key: string;
  label: string;
  cell: (row: T) => Child;
  value?: (row: T) => string | number | undefined;
  numeric?: boolean;
  /** `t`: a compact time (whenShort). */
  width?: 'xs' | 't' | 's' | 'm' | 'l' | 'xl';
  title?: (row: T) => string | undefined;
  /** Left out when no row of the page has a value (e.g. site, when no job needs one). */
  optional?: boolean;
}

/** A timestamp in a table: the time of day (date too if not today), full local and UTC time in the tooltip. */
export function whenShort(iso: string | undefined): Html {
  if (!iso) return html`<span class="muted">—</span>`;
  return html`<time class="short" datetime="${iso}" title="${iso}">${iso.slice(11, 19)}</time>`;
}

/** Parses a `sort` parameter (`name` ascending, `-name` descending) against the table's columns. */
export function parseSort<T>(
  sort: string | undefined,
  columns: readonly Column<T>[],
): { key: string; desc: boolean } | undefined {
  if (!sort) return undefined;
  const desc = sort.startsWith('-');
  const key = desc ? sort.slice(1) : sort;
  return columns.some((c) => c.key === key && c.value) ? { key, desc } : undefined;
}

/** Rows sorted by a column (stable; missing values last in both directions). */
export function sortRows<T>(
  rows: readonly T[],
  columns: readonly Column<T>[],
  sort: string | undefined,
): T[] {
  const s = parseSort(sort, columns);
  if (!s) return [...rows];
  const col = columns.find((c) => c.key === s.key)!;
  const val = col.value!;
  return rows
    .map((r, i) => ({ r, i, v: val(r) }))
    .sort((a, b) => {
      if (a.v === undefined || b.v === undefined) return a.v === b.v ? a.i - b.i : a.v === undefined ? 1 : -1;
      const c =
        typeof a.v === 'number' && typeof b.v === 'number'
          ? a.v - b.v
          : String(a.v).localeCompare(String(b.v));
      return (s.desc ? -c : c) || a.i - b.i;
    })
    .map((x) => x.r);
}

export interface TableOptions<T> {
  caption: Child;
  columns: readonly Column<T>[];
  rows: readonly T[];
  /** The page's path and current parameters: sort links keep every filter. */
  path: string;
  params: Record<string, string | undefined>;
  sort?: string;
  empty?: Child;
  rowClass?: (row: T) => string | undefined;
}

/** A table whose headers are sort links (`?sort=col`, again for `-col`), marked with aria-sort. */
export function table<T>(o: TableOptions<T>): Html {
  const columns = o.columns.filter((c) => !c.optional || o.rows.some((r) => c.value?.(r) !== undefined));
  o = { ...o, columns };
  const s = parseSort(o.sort, o.columns);
  const rows = sortRows(o.rows, o.columns, o.sort);
  const fit = o.columns.some((c) => c.width);
  const head = o.columns.map((c) => {
    const cls = c.numeric ? html` class="num"` : '';
    if (!c.value) return html`<th scope="col"${cls}>${c.label}</th>`;
    const active = s?.key === c.key;
    const next = active && !s.desc ? `-${c.key}` : c.key;
    const aria = active ? (s.desc ? 'descending' : 'ascending') : undefined;
    const arrow = active ? (s.desc ? ' ▼' : ' ▲') : '';
    return html`<th scope="col"${cls}${aria ? html` aria-sort="${aria}"` : ''}><a href="${url(o.path, { ...o.params, sort: next, cursor: o.params.cursor })}">${c.label}${arrow}</a></th>`;
  });
  const body = rows.length
    ? rows.map((r) => {
        const rc = o.rowClass?.(r);
        return html`<tr${rc ? html` class="${rc}"` : ''}>${o.columns.map((c) => {
          const tip = fit ? (c.title?.(r) ?? c.value?.(r)) : undefined;
          return html`<td${c.numeric ? html` class="num"` : ''}${tip !== undefined && tip !== '' ? html` title="${String(tip)}"` : ''}>${c.cell(r)}</td>`;
        })}</tr>`;
      })
    : html`<tr><td colspan="${o.columns.length}" class="muted">${o.empty ?? 'Nothing to show.'}</td></tr>`;
  const cols = fit
    ? html`<colgroup>${o.columns.map((c) => html`<col${c.width ? html` class="w-${c.width}"` : ''}>`)}</colgroup>`
    : '';
  return html`<table${fit ? html` class="fit"` : ''}>
<caption>${o.caption}</caption>
${cols}<thead><tr>${head}</tr></thead>
<tbody>${body}</tbody>
</table>`;
}

/** Links to the first and the next page; `next` is absent on the last page. */
export function pager(o: { first?: string; next?: string; info: Child }): Html {
  return html`<nav class="pager" aria-label="Pages">${o.first ? html`<a href="${o.first}">« First page</a>` : ''}<span class="muted">${o.info}</span>${o.next ? html`<a href="${o.next}" rel="next">Next page »</a>` : ''}</nav>`;
}

/** Attribute/value pairs of a detail page. */
export function kv(rows: readonly (readonly [string, Child])[]): Html {
  return html`<dl class="kv">${rows.map(([k, v]) => html`<dt>${k}</dt><dd>${v === undefined || v === null || v === '' ? html`<span class="muted">—</span>` : v}</dd>`)}</dl>`;
}

/** Select options with the current value selected. */
export function options(
  values: readonly (string | readonly [string, string])[],
  selected: string | undefined,
): Html {
  return html`${values.map((v) => {
    const [value, label] = typeof v === 'string' ? [v, v] : v;
    return html`<option value="${value}"${value === (selected ?? '') ? html` selected` : ''}>${label}</option>`;
  })}`;
}

/** Offset pagination of a small list held in memory (job types, pilots, workflows of a page). */
export function paginate<T>(
  items: readonly T[],
  page: number,
  perPage: number,
): { items: T[]; pages: number } {
  const pages = Math.max(1, Math.ceil(items.length / perPage));
  const p = Math.min(Math.max(1, page), pages);
  return { items: items.slice((p - 1) * perPage, p * perPage), pages };
}
