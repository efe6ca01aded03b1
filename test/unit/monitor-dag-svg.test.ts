import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { dagSvg, labelWidth, layoutDag, pointOnEdge, shownName } from '../../shared/monitor/dag-svg.ts';

const v = (name: string, state?: string) => ({ name, state });
const e = (source: string, target: string, label = '') => ({ source, target, label });

describe('DAG layout', () => {
  test('each vertex is one layer below its deepest parent', () => {
    const g = layoutDag({
      vertices: [v('a'), v('b'), v('c'), v('d')],
      edges: [e('a', 'b'), e('b', 'c'), e('a', 'c'), e('c', 'd')],
    });
    const layer = Object.fromEntries(g.vertices.map((x) => [x.name, x.layer]));
    assert.deepEqual(layer, { a: 0, b: 1, c: 2, d: 3 });
    const y = Object.fromEntries(g.vertices.map((x) => [x.name, x.y]));
    assert.ok(y.a! < y.b! && y.b! < y.c! && y.c! < y.d!);
  });

  test('several roots share the top layer and vertices of a layer do not overlap', () => {
    const g = layoutDag({
      vertices: [v('r1'), v('r2'), v('r3'), v('sink')],
      edges: [e('r1', 'sink'), e('r2', 'sink'), e('r3', 'sink')],
    });
    const top = g.vertices.filter((x) => x.layer === 0).sort((a, b) => a.x - b.x);
    assert.deepEqual(top.map((x) => x.name).sort(), ['r1', 'r2', 'r3']);
    for (let i = 1; i < top.length; i++) assert.ok(top[i]!.x >= top[i - 1]!.x + top[i - 1]!.w, 'no overlap');
    for (const x of g.vertices)
      assert.ok(x.x >= 0 && x.x + x.w <= g.width && x.y + x.h <= g.height, 'inside the canvas');
  });

  test('barycenter ordering uncrosses two parallel chains given crossed', () => {
    // a→y and b→x, with x listed before y: the second layer is reordered to follow its parents.
    const g = layoutDag({ vertices: [v('a'), v('b'), v('x'), v('y')], edges: [e('a', 'y'), e('b', 'x')] });
    const pos = Object.fromEntries(g.vertices.map((x) => [x.name, x.x]));
    assert.equal(pos.a! < pos.b!, pos.y! < pos.x!, 'edges do not cross');
  });

  test('parallel edges are drawn once with both labels; dangling edges and self-loops are dropped', () => {
    const g = layoutDag({
      vertices: [v('a'), v('b')],
      edges: [e('a', 'b', 'RAW'), e('a', 'b', 'CAL'), e('a', 'ghost'), e('b', 'b')],
    });
    assert.equal(g.edges.length, 1);
    assert.equal(g.edges[0]!.label, 'RAW, CAL');
  });

  test('labels of a fan-out and of a fan-in do not overlap', () => {
    const g = layoutDag({
      vertices: [v('src'), v('a'), v('b'), v('c'), v('sink')],
      edges: ['a', 'b', 'c'].flatMap((x) => [
        e('src', x, `SRC_TO_${x}_LONG_LABEL`),
        e(x, 'sink', `${x}_TO_SINK_LONG_LABEL`),
      ]),
    });
    for (const group of [
      g.edges.filter((x) => x.source === 'src'),
      g.edges.filter((x) => x.target === 'sink'),
    ]) {
      const boxes = group
        .map((x) => {
          const p = pointOnEdge(x, x.labelAt);
          return [p.x - labelWidth(x.label) / 2, p.x + labelWidth(x.label) / 2] as const;
        })
        .sort((p, q) => p[0] - q[0]);
      for (let i = 1; i < boxes.length; i++)
        assert.ok(boxes[i]![0] >= boxes[i - 1]![1] - 1, JSON.stringify(boxes));
    }
  });

  test('a cycle (never a valid DAG) still draws every vertex, the closing edge marked as back', () => {
    const g = layoutDag({
      vertices: [v('a'), v('b'), v('c')],
      edges: [e('a', 'b'), e('b', 'c'), e('c', 'b')],
    });
    assert.equal(g.vertices.length, 3);
    assert.ok(g.edges.some((x) => x.back));
  });

  test('an empty graph has a canvas and no content', () => {
    const g = layoutDag({ vertices: [], edges: [] });
    assert.equal(g.vertices.length, 0);
    assert.ok(g.width > 0 && g.height > 0);
  });
});

describe('DAG drawing', () => {
  // The colours of job states, written here so that a change to the shared table is a decision
  // (the same fills colour the state badges of every table).
  const FILLS: Record<string, string> = {
    template: '#e5e7eb',
    defined: '#bfdbfe',
    dispatched: '#c7d2fe',
    running: '#fde68a',
    finished: '#bbf7d0',
    failed: '#fecaca',
    timelimit: '#fed7aa',
    pilotTO: '#fbcfe8',
    stale: '#e7e5e4',
    dropped: '#d4d4d8',
    killed: '#fca5a5',
    cancelled: '#cbd5e1',
    nonstarter: '#fda4af',
    weird: '#ffffff',
  };

  test('vertices are filled by their state, unknown states in white', () => {
    const svg = dagSvg(
      { vertices: Object.keys(FILLS).map((state) => v(`v-${state}`, state)), edges: [] },
      { id: 'd', title: 't' },
    ).value;
    const fill = (name: string) =>
      new RegExp(`data-name="${name}"[^]*?<rect[^>]*fill="([^"]+)"`).exec(svg)?.[1];
    for (const [state, colour] of Object.entries(FILLS))
      assert.equal(fill(`v-${state}`), colour, `a ${state} vertex is ${colour}`);
    assert.match(svg, /<desc id="d-desc">14 vertices, 0 edges\. template: 1, defined: 1, /);
  });

  test('hostile vertex names, states, labels and titles are shown as the very text given', () => {
    const evil = '<img src=x onerror=alert(1)>';
    const state = '"><script>';
    const label = '</text><script>';
    const svg = dagSvg(
      {
        vertices: [{ name: evil, state, href: '/monitor/jobs/"x' }, v('b')],
        edges: [e(evil, 'b', label)],
      },
      { id: 'x"y', title: '<t>' },
    ).value;
    // Read as an XML parser (and so a browser) reads it: entities decoded, markup turned into elements.
    assert.equal(XMLValidator.validate(svg), true, 'well-formed');
    const doc = new XMLParser({
      ignoreAttributes: false,
      attributeNamePrefix: '@',
      parseTagValue: false,
      parseAttributeValue: false,
      trimValues: false,
      isArray: (name) => name === 'g' || name === 'text',
    }).parse(svg);
    const elements = new Set<string>();
    const walk = (node: unknown) => {
      if (!node || typeof node !== 'object') return;
      for (const [k, child] of Object.entries(node)) {
        if (k.startsWith('@') || k === '#text') continue;
        elements.add(k);
        for (const c of [child].flat()) walk(c);
      }
    };
    walk(doc);
    assert.deepEqual([...elements].sort(), [
      'a',
      'defs',
      'desc',
      'g',
      'marker',
      'path',
      'rect',
      'svg',
      'text',
      'title',
    ]);

    const root = doc.svg;
    assert.equal(root.title['#text'], '<t>');
    assert.equal(root.title['@id'], 'x_y-title', 'ids are sanitised');
    assert.equal(root.desc['#text'], `2 vertices, 1 edges. ${state}: 1, unknown: 1.`);
    const [edge, vertex] = root.g;
    assert.equal(edge['@data-source'], evil);
    assert.equal(edge.text[0]['#text'], label);
    assert.equal(vertex['@data-name'], evil);
    assert.equal(vertex['@data-state'], state);
    assert.equal(vertex.a['@href'], '/monitor/jobs/"x');
    assert.equal(vertex.a.title, `${evil} — ${state}`);
    assert.deepEqual(
      vertex.a.text.map((t: Record<string, string>) => t['#text']),
      ['<img src=x onerror=alert(…', state],
      'the name (shortened in the box) and the state',
    );
  });

  test('long names are shortened in the box but kept whole in the tooltip', () => {
    const long = `vertex_${'x'.repeat(80)}`;
    const svg = dagSvg({ vertices: [v(long, 'running')], edges: [] }, { id: 'l', title: 't' }).value;
    assert.ok(shownName(long).endsWith('…') && shownName(long).length < long.length);
    assert.ok(svg.includes(`<title>${long} — running</title>`));
  });

  test('the same graph always gives the same markup', () => {
    const g = { vertices: [v('a', 'defined'), v('b', 'template')], edges: [e('a', 'b', 'F')] };
    assert.equal(dagSvg(g, { id: 'g', title: 't' }).value, dagSvg(g, { id: 'g', title: 't' }).value);
  });
});
