import { type Html, html, join } from './html.ts';
import { STATE_FILL } from './states.ts';

/** One minute of the throughput aggregate (`summary().throughput`). */
export interface MinuteThroughput {
  minute: string;
  started: number;
  ended: number;
  finished: number;
  failed: number;
}

const W = 1000;
const H = 200;
const LEFT = 48;
const RIGHT = 8;
const TOP = 10;
const BOTTOM = 24;

/** A "nice" axis maximum: 1, 2, 5 × 10^k at or above `n` (at least 1). */
export function niceMax(n: number): number {
  if (n <= 1) return 1;
  const p = 10 ** Math.floor(Math.log10(n));
  for (const m of [1, 2, 5, 10]) if (m * p >= n) return m * p;
  return 10 * p;
}

/**
 * Jobs per minute as an SVG chart: stacked bars of jobs ended per minute (finished, failed,
 * other ends) and a line of jobs started, oldest minute on the left. The numbers are also in the
 * accessible description, so the chart is not the only way to read them.
 */
export function throughputSvg(rows: readonly MinuteThroughput[], opts: { id: string }): Html {
  const n = Math.max(rows.length, 1);
  const max = niceMax(Math.max(0, ...rows.map((r) => Math.max(r.started, r.ended))));
  const plotW = W - LEFT - RIGHT;
  const plotH = H - TOP - BOTTOM;
  const slot = plotW / n;
  const bw = Math.max(1, slot * 0.8);
  const y = (v: number) => TOP + plotH - (v / max) * plotH;
  const r1 = (v: number) => Math.round(v * 10) / 10;
  const bars = rows.map((r, i) => {
    const x = r1(LEFT + i * slot + (slot - bw) / 2);
    const other = Math.max(0, r.ended - r.finished - r.failed);
    const parts: [string, number, string][] = [
      ['finished', r.finished, STATE_FILL.finished!],
      ['failed', r.failed, STATE_FILL.failed!],
      ['other', other, STATE_FILL.stale!],
    ];
    let base = 0;
    const rects = parts
      .filter(([, v]) => v > 0)
      .map(([k, v, fill]) => {
        const top = y(base + v);
        const h = y(base) - top;
        base += v;
        return html`<rect class="bar ${k}" x="${x}" y="${r1(top)}" width="${r1(bw)}" height="${r1(h)}" fill="${fill}" stroke="#334155" stroke-width="0.5"/>`;
      });
    return html`<g data-minute="${r.minute}"><title>${r.minute} UTC: started ${r.started}, finished ${r.finished}, failed ${r.failed}, other ends ${other}</title>${rects}</g>`;
  });
  const line = rows.map((r, i) => `${r1(LEFT + i * slot + slot / 2)},${r1(y(r.started))}`).join(' ');
  const total = (k: keyof Omit<MinuteThroughput, 'minute'>) => rows.reduce((a, r) => a + r[k], 0);
  const id = opts.id.replace(/[^A-Za-z0-9_-]/g, '_');
  const ticks = [0, max / 2, max].map(
    (v) =>
      html`<line x1="${LEFT}" x2="${W - RIGHT}" y1="${r1(y(v))}" y2="${r1(y(v))}" stroke="#cbd5e1" stroke-width="0.5"/><text x="${LEFT - 4}" y="${r1(y(v)) + 4}" text-anchor="end" font-size="15" fill="#334155">${v}</text>`,
  );
  return html`<svg class="chart" xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="${id}-title ${id}-desc" viewBox="0 0 ${W} ${H}" preserveAspectRatio="xMidYMid meet" font-family="system-ui, sans-serif">
<title id="${id}-title">Jobs per minute, last ${rows.length} minutes</title>
<desc id="${id}-desc">Started ${total('started')}, ended ${total('ended')} (finished ${total('finished')}, failed ${total('failed')}). Most in one minute: ${Math.max(0, ...rows.map((r) => r.started))} started, ${Math.max(0, ...rows.map((r) => r.ended))} ended.</desc>
${join(ticks)}
${join(bars)}
<polyline class="started" points="${line}" fill="none" stroke="#1d4ed8" stroke-width="2"/>
<text x="${LEFT}" y="${H - 6}" font-size="15" fill="#334155">−${rows.length} min</text>
<text x="${W - RIGHT}" y="${H - 6}" font-size="15" text-anchor="end" fill="#334155">now</text>
</svg>`;
}

/**
 * A sparkline: one series over time (oldest first) as a small SVG line, with gaps where a value
 * is missing (no jobs that minute). The numbers are in its title, so it is not the only way to
 * read them.
 */
export function sparkline(
  values: readonly (number | null)[],
  opts: { id: string; label: string; unit?: string; max?: number },
): Html {
  const W = 120;
  const H = 28;
  const seen = values.filter((v): v is number => v !== null);
  const max = opts.max ?? niceMax(Math.max(0, ...seen));
  const step = values.length > 1 ? W / (values.length - 1) : W;
  const r1 = (v: number) => Math.round(v * 10) / 10;
  const runs: string[][] = [];
  let run: string[] = [];
  values.forEach((v, i) => {
    if (v === null) {
      if (run.length) runs.push(run);
      run = [];
      return;
    }
    run.push(`${r1(i * step)},${r1(H - 2 - (Math.min(v, max) / max) * (H - 4))}`);
  });
  if (run.length) runs.push(run);
  const last = [...values].reverse().find((v) => v !== null);
  const id = opts.id.replace(/[^A-Za-z0-9_-]/g, '_');
  return html`<svg class="spark" id="${id}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" preserveAspectRatio="none" role="img" aria-label="${opts.label}"><title>${opts.label}: ${seen.length ? `latest ${last}${opts.unit ?? ''}, highest ${Math.max(...seen)}${opts.unit ?? ''}` : 'no data'} (last ${values.length} min, up to ${max}${opts.unit ?? ''})</title><line x1="0" x2="${W}" y1="${H - 2}" y2="${H - 2}" stroke="#cbd5e1" stroke-width="1" vector-effect="non-scaling-stroke"/>${runs.map(
    (pts) =>
      pts.length === 1
        ? html`<circle cx="${pts[0]!.split(',')[0]}" cy="${pts[0]!.split(',')[1]}" r="1.5" fill="#1d4ed8"/>`
        : html`<polyline points="${pts.join(' ')}" fill="none" stroke="#1d4ed8" stroke-width="1.5" vector-effect="non-scaling-stroke"/>`,
  )}</svg>`;
}
