import { type Html, html, join } from './html.ts';
import { fillOf } from './states.ts';

/**
 * A workflow's DAG drawn as an SVG graph: vertices in layers (each vertex one layer below its
 * deepest parent), ordered within a layer to reduce crossings, filled by the state of their
 * job. Pure: same input, same markup — so it is unit-tested without a browser.
 */

interface DagVertexView {
  name: string;
  state?: string;
  /** Second line of the box instead of the state (a template's vertices show their job type). */
  note?: string;
  /** Where a click on the vertex goes (its job's page). */
  href?: string;
}
export interface DagEdgeView {
  source: string;
  target: string;
  label?: string;
}
export interface DagView {
  vertices: readonly DagVertexView[];
  edges: readonly DagEdgeView[];
}

interface PlacedVertex extends DagVertexView {
  layer: number;
  /** Position within its layer, from the left. */
  order: number;
  x: number;
  y: number;
  w: number;
  h: number;
}
export interface PlacedEdge {
  source: string;
  target: string;
  label: string;
  /** Drawn upwards or sideways: the edge closes a cycle (the input was not a DAG). */
  back: boolean;
  /** Where along the edge (0 = source, 1 = target) its label is placed. */
  labelAt: number;
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}
export interface DagLayout {
  width: number;
  height: number;
  vertices: PlacedVertex[];
  edges: PlacedEdge[];
}

const NODE_H = 44;
const LAYER_GAP = 72;
const NODE_GAP = 24;
const MARGIN = 16;
const CHAR_W = 7.4;
const MIN_W = 72;
const MAX_W = 220;
const PAD_X = 12;
const MAX_CHARS = Math.floor((MAX_W - 2 * PAD_X) / CHAR_W);

/** Text as shown in a vertex box: long names are cut with an ellipsis (the full name is its tooltip). */
export function shownName(name: string): string {
  return name.length > MAX_CHARS ? `${name.slice(0, MAX_CHARS - 1)}…` : name;
}

const LABEL_CHAR_W = 6.4;
export const labelWidth = (label: string): number => Math.round(label.length * LABEL_CHAR_W + 16);

const widthOf = (name: string, state: string) =>
  Math.round(
    Math.min(MAX_W, Math.max(MIN_W, Math.max(shownName(name).length, state.length) * CHAR_W + 2 * PAD_X)),
  );

/**
 * Layered layout. Layers by longest path from the roots (Kahn's order); vertices on a cycle,
 * which a valid DAG never has, are put in extra layers below rather than lost. Within layers,
 * a few barycenter sweeps reduce edge crossings. Edges naming unknown vertices are dropped;
 * parallel edges between the same two vertices are drawn once with their labels joined.
 */
export function layoutDag(view: DagView): DagLayout {
  const names: string[] = [];
  const byName = new Map<string, DagVertexView>();
  for (const v of view.vertices) {
    if (byName.has(v.name)) continue;
    byName.set(v.name, v);
    names.push(v.name);
  }
  // Merge parallel edges; drop self-loops and dangling ones.
  const merged = new Map<string, { source: string; target: string; labels: string[] }>();
  for (const e of view.edges) {
    if (!byName.has(e.source) || !byName.has(e.target) || e.source === e.target) continue;
    const k = `${e.source}\u0000${e.target}`;
    let m = merged.get(k);
    if (!m) {
      m = { source: e.source, target: e.target, labels: [] };
      merged.set(k, m);
    }
    if (e.label && !m.labels.includes(e.label)) m.labels.push(e.label);
  }
  const edges = [...merged.values()];
  const parents = new Map<string, string[]>(names.map((n) => [n, []]));
  const children = new Map<string, string[]>(names.map((n) => [n, []]));
  for (const e of edges) {
    parents.get(e.target)!.push(e.source);
    children.get(e.source)!.push(e.target);
  }

  // Longest-path layering over Kahn's topological order.
  const layer = new Map<string, number>();
  const indeg = new Map(names.map((n) => [n, parents.get(n)!.length]));
  const ready = names.filter((n) => indeg.get(n) === 0);
  for (const n of ready) layer.set(n, 0);
  for (let i = 0; i < ready.length; i++) {
    const n = ready[i]!;
    for (const c of children.get(n)!) {
      layer.set(c, Math.max(layer.get(c) ?? 0, layer.get(n)! + 1));
      indeg.set(c, indeg.get(c)! - 1);
      if (indeg.get(c) === 0) ready.push(c);
    }
  }
  let maxLayer = Math.max(-1, ...[...layer.values()]);
  for (const n of names) {
    if (indeg.get(n)! > 0) layer.set(n, ++maxLayer); // on a cycle
  }

  const layers: string[][] = Array.from({ length: maxLayer + 1 }, () => []);
  for (const n of names) layers[layer.get(n)!]!.push(n);

  // Barycenter sweeps: down using parents' positions, up using children's.
  const pos = new Map<string, number>();
  const index = () => {
    for (const l of layers)
      l.forEach((n, i) => {
        pos.set(n, i);
      });
  };
  index();
  const sweep = (ls: string[][], neighbours: Map<string, string[]>) => {
    for (const l of ls) {
      const bary = new Map<string, number>();
      l.forEach((n, i) => {
        const ns = neighbours.get(n)!.filter((m) => pos.has(m));
        bary.set(n, ns.length ? ns.reduce((a, m) => a + pos.get(m)!, 0) / ns.length : i);
      });
      l.sort((a, b) => bary.get(a)! - bary.get(b)! || pos.get(a)! - pos.get(b)!);
      l.forEach((n, i) => {
        pos.set(n, i);
      });
    }
  };
  for (let k = 0; k < 4; k++) {
    sweep(layers.slice(1), parents);
    sweep(layers.slice(0, -1).reverse(), children);
  }

  // A label sits near the end of its edge that cannot be shared: near the target, unless the
  // target has several parents (then near the source). That vertex is made at least as wide as
  // the label, so labels of sibling edges never overlap.
  const labelAtOf = (e: { target: string }) => (parents.get(e.target)!.length > 1 ? 0.2 : 0.8);
  const widths = new Map(
    names.map((n) => [n, widthOf(n, byName.get(n)!.note ?? byName.get(n)!.state ?? '')]),
  );
  for (const e of edges) {
    const label = e.labels.join(', ');
    if (!label) continue;
    const at = labelAtOf(e) > 0.5 ? e.target : e.source;
    widths.set(at, Math.max(widths.get(at)!, labelWidth(label)));
  }
  const rowWidth = (l: string[]) =>
    l.reduce((a, n) => a + widths.get(n)!, 0) + Math.max(0, l.length - 1) * NODE_GAP;
  const inner = Math.max(0, ...layers.map(rowWidth));
  const placed = new Map<string, PlacedVertex>();
  layers.forEach((l, li) => {
    let x = MARGIN + (inner - rowWidth(l)) / 2;
    l.forEach((n, oi) => {
      const w = widths.get(n)!;
      placed.set(n, {
        ...byName.get(n)!,
        layer: li,
        order: oi,
        x: Math.round(x),
        y: MARGIN + li * (NODE_H + LAYER_GAP),
        w,
        h: NODE_H,
      });
      x += w + NODE_GAP;
    });
  });

  const placedEdges: PlacedEdge[] = edges.map((e) => {
    const s = placed.get(e.source)!;
    const t = placed.get(e.target)!;
    const back = t.layer <= s.layer;
    const labelAt = labelAtOf(e);
    return {
      source: e.source,
      target: e.target,
      label: e.labels.join(', '),
      labelAt,
      back,
      x1: s.x + s.w / 2,
      y1: back ? s.y : s.y + s.h,
      x2: t.x + t.w / 2,
      y2: back ? t.y + t.h : t.y,
    };
  });

  return {
    width: Math.round(inner + 2 * MARGIN),
    height: layers.length
      ? MARGIN * 2 + layers.length * NODE_H + (layers.length - 1) * LAYER_GAP
      : 2 * MARGIN,
    vertices: names.map((n) => placed.get(n)!),
    edges: placedEdges,
  };
}

/** The y of the two control points of an edge's cubic curve (vertical tangents at both ends). */
function controls(e: PlacedEdge): [number, number] {
  const dy = Math.max(24, Math.abs(e.y2 - e.y1) / 2);
  return e.back ? [e.y1 - dy, e.y2 + dy] : [e.y1 + dy, e.y2 - dy];
}

function edgePath(e: PlacedEdge): string {
  const [c1, c2] = controls(e);
  return `M${e.x1} ${e.y1} C${e.x1} ${c1} ${e.x2} ${c2} ${e.x2} ${e.y2}`;
}

/** The point at parameter t of an edge's curve. */
export function pointOnEdge(e: PlacedEdge, t: number): { x: number; y: number } {
  const [c1, c2] = controls(e);
  const u = 1 - t;
  const a = u * u * u;
  const b = 3 * u * u * t;
  const c = 3 * u * t * t;
  const d = t * t * t;
  return {
    x: Math.round(a * e.x1 + b * e.x1 + c * e.x2 + d * e.x2),
    y: Math.round(a * e.y1 + b * c1 + c * c2 + d * e.y2),
  };
}

/**
 * The SVG markup of a DAG. `id` must be unique on the page (it scopes the arrow marker and
 * the accessible title). Vertex names, states and labels are escaped like any interpolation.
 */
export function dagSvg(view: DagView, opts: { id: string; title: string }): Html {
  const g = layoutDag(view);
  const counts = new Map<string, number>();
  for (const v of g.vertices) counts.set(v.state ?? 'unknown', (counts.get(v.state ?? 'unknown') ?? 0) + 1);
  const desc = `${g.vertices.length} vertices, ${g.edges.length} edges. ${[...counts]
    .map(([s, n]) => `${s}: ${n}`)
    .join(', ')}.`;
  const id = opts.id.replace(/[^A-Za-z0-9_-]/g, '_');
  const edges = g.edges.map((e) => {
    const at = pointOnEdge(e, e.labelAt);
    return html`<g class="edge${e.back ? ' back' : ''}" data-source="${e.source}" data-target="${e.target}">
<path d="${edgePath(e)}" fill="none" stroke="#475569" stroke-width="1.5"${e.back ? html` stroke-dasharray="4 3"` : ''} marker-end="url(#${id}-arrow)"/>${
      e.label
        ? html`<text x="${at.x}" y="${at.y + 4}" text-anchor="middle" font-size="11" fill="#1e293b" stroke="#fff" stroke-width="3" paint-order="stroke">${e.label}</text>`
        : ''
    }</g>`;
  });
  const vertices = g.vertices.map((v) => {
    const state = v.state ?? 'unknown';
    const box = html`<title>${v.name} — ${v.note ?? state}</title>
<rect x="${v.x}" y="${v.y}" width="${v.w}" height="${v.h}" rx="6" fill="${fillOf(v.state)}" stroke="#334155" stroke-width="1.2"/>
<text x="${v.x + v.w / 2}" y="${v.y + 18}" text-anchor="middle" font-size="13" font-weight="600" fill="#0f172a">${shownName(v.name)}</text>
<text x="${v.x + v.w / 2}" y="${v.y + 35}" text-anchor="middle" font-size="11" fill="#1e293b">${v.note ?? state}</text>`;
    const body = v.href ? html`<a href="${v.href}">${box}</a>` : box;
    return html`<g class="vertex" data-name="${v.name}" data-state="${state}">${body}</g>`;
  });
  return html`<svg class="dag" xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="${id}-title ${id}-desc" width="${g.width}" height="${g.height}" viewBox="0 0 ${g.width} ${g.height}" font-family="system-ui, sans-serif">
<title id="${id}-title">${opts.title}</title>
<desc id="${id}-desc">${desc}</desc>
<defs><marker id="${id}-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0 0 L10 5 L0 10 z" fill="#475569"/></marker></defs>
${join(edges, '\n')}
${join(vertices, '\n')}
</svg>`;
}
