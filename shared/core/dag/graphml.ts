import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { ValidationError } from '../errors.ts';
import { type Dag, edgeLabel, MAX_EDGES, MAX_VERTICES, validateDag } from './dag.ts';

/**
 * GraphML DAG templates in the original p3s format (p3s-original §9.1): node attributes
 * payload, env (JSON text), jobtype, timelimit, priority; edge attributes name, dirpath,
 * datatype, datatag, comment. Keys are matched by `attr.name`, never by id, because files in
 * the wild use both opaque ids (`d101`) and descriptive ones (`payload`).
 */

export const MAX_GRAPHML_BYTES = 1024 * 1024;

const NODE_ATTRS = new Set(['payload', 'env', 'jobtype', 'timelimit', 'priority']);
const EDGE_ATTRS = new Set(['name', 'dirpath', 'datatype', 'datatag', 'comment']);
const GRAPH_ATTRS = new Set(['name', 'description']);
const INT_ATTRS = new Set(['timelimit', 'priority']);

type Domain = 'node' | 'edge' | 'graph';
type XmlEl = Record<string, unknown>;
interface KeyDecl {
  id: string;
  domain: string;
  attrName: string | undefined;
  default: string | undefined;
}

const REPEATED = new Set(['key', 'graph', 'node', 'edge', 'data', 'default']);
const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  parseTagValue: false,
  parseAttributeValue: false,
  // Values are trimmed below, after CDATA and text are joined, not piecewise by the parser.
  trimValues: false,
  // yEd and others write namespaced GraphML (`<graphml:node>`); the local name is what counts.
  removeNSPrefix: true,
  // The only fast-xml-parser 5 switch that decodes numeric references (`&#10;`, which
  // networkx writes); it also accepts HTML's named entities, which is harmless here.
  htmlEntities: true,
  isArray: (name, _path, _leaf, isAttribute) => !isAttribute && REPEATED.has(name),
});

export interface ParseGraphMLOptions {
  /** The DAG's name. Default: the file's graph-level `name` data, else `<graph id>`. */
  name?: string;
  /** Default: the file's graph-level `description` data, else empty. */
  description?: string;
  /** Registered datatype names; when given, edges with other datatypes are rejected. */
  datatypes?: Iterable<string>;
}

/**
 * Parses GraphML text into a validated `Dag`. Parallel edges (a MultiDiGraph) and several
 * roots are allowed; `<default>` values of keys apply to elements that lack the data;
 * unknown attributes (layout data, networkx's multigraph `key`, …) are ignored.
 * Throws `ValidationError` naming the problem: malformed XML, size limits, missing ids,
 * bad env JSON or non-integer numbers on a node, then everything `validateDag` checks.
 */
export function parseGraphML(text: string, options: ParseGraphMLOptions = {}): Dag {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_GRAPHML_BYTES) {
    throw new ValidationError(`GraphML is ${bytes} bytes; the limit is ${MAX_GRAPHML_BYTES}`);
  }
  // GraphML never needs a DTD; refusing it rules out entity-expansion tricks altogether.
  if (/<!DOCTYPE/i.test(text)) throw new ValidationError('GraphML must not contain a DOCTYPE');
  const check = XMLValidator.validate(text);
  if (check !== true) {
    const { line, col } = check.err;
    const where = line ? ` at line ${line}${col ? `, column ${col}` : ''}` : '';
    throw new ValidationError(`malformed XML${where}: ${check.err.msg}`);
  }

  const doc = parser.parse(text) as unknown;
  const root = isEl(doc) ? doc.graphml : undefined;
  if (!isEl(root)) throw new ValidationError('not GraphML: the root element must be <graphml>');

  const keys = readKeys(root);
  const graphs = elements(root, 'graph');
  const graph = graphs[0];
  if (graphs.length !== 1 || !graph) {
    throw new ValidationError(`GraphML must hold exactly one <graph>, found ${graphs.length}`);
  }
  const nodes = elements(graph, 'node');
  const edges = elements(graph, 'edge');
  if (nodes.length > MAX_VERTICES) {
    throw new ValidationError(`GraphML has ${nodes.length} nodes; the limit is ${MAX_VERTICES}`);
  }
  if (edges.length > MAX_EDGES) {
    throw new ValidationError(`GraphML has ${edges.length} edges; the limit is ${MAX_EDGES}`);
  }
  const undirectedByDefault = attr(graph, 'edgedefault') === 'undirected';

  const vertices = nodes.map((node, i) => {
    const id = attr(node, 'id');
    if (!id) throw new ValidationError(`node ${i + 1}: missing id`);
    const what = `node ${id}`;
    const data = readData(node, 'node', keys, what);
    const vertex: Record<string, unknown> = { name: id };
    for (const [name, raw] of data) {
      if (!NODE_ATTRS.has(name)) continue;
      if (INT_ATTRS.has(name)) vertex[name] = toInt(raw, name, what);
      else if (name === 'env') vertex.env = toEnv(raw, what);
      else vertex[name] = raw;
    }
    return vertex;
  });

  const dagEdges = edges.map((edge, i) => {
    const source = attr(edge, 'source');
    const target = attr(edge, 'target');
    const what = edgeLabel(i, source ?? '?', target ?? '?');
    if (!source) throw new ValidationError(`${what}: missing source`);
    if (!target) throw new ValidationError(`${what}: missing target`);
    const directed = attr(edge, 'directed');
    if (directed === 'false' || (directed === undefined && undirectedByDefault)) {
      throw new ValidationError(`${what}: undirected edge; a DAG needs directed edges`);
    }
    const out: Record<string, unknown> = { source, target };
    for (const [name, raw] of readData(edge, 'edge', keys, what)) {
      if (EDGE_ATTRS.has(name)) out[name] = raw;
    }
    return out;
  });

  const graphData = new Map(
    [...readData(graph, 'graph', keys, 'graph')].filter(([name]) => GRAPH_ATTRS.has(name)),
  );
  const name = options.name ?? (graphData.get('name') || attr(graph, 'id'));
  if (!name) throw new ValidationError('the DAG has no name: give one, or set <graph id="…">');
  const description = options.description ?? graphData.get('description') ?? '';

  const dag = { name, description, vertices, edges: dagEdges };
  return validateDag(dag, { datatypes: options.datatypes });
}

function readKeys(root: XmlEl): Map<string, KeyDecl> {
  const keys = new Map<string, KeyDecl>();
  elements(root, 'key').forEach((k, i) => {
    const id = attr(k, 'id');
    if (!id) throw new ValidationError(`key ${i + 1}: missing id`);
    if (keys.has(id)) throw new ValidationError(`duplicate key id ${id}`);
    const def = elements(k, 'default')[0];
    keys.set(id, {
      id,
      domain: attr(k, 'for') ?? 'all',
      // Keys without attr.name (yEd's graphics keys) carry nothing p3s reads.
      attrName: attr(k, 'attr.name'),
      default: def === undefined ? undefined : textOf(def),
    });
  });
  return keys;
}

/** attr.name → value for one element: the keys' defaults first, then its own `<data>`. */
function readData(el: XmlEl, domain: Domain, keys: Map<string, KeyDecl>, what: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const k of keys.values()) {
    if (k.attrName && k.default !== undefined && appliesTo(k, domain)) out.set(k.attrName, k.default);
  }
  for (const d of elements(el, 'data')) {
    const id = attr(d, 'key');
    if (!id) throw new ValidationError(`${what}: <data> without a key`);
    const k = keys.get(id);
    if (!k) throw new ValidationError(`${what}: data key ${id} is not declared`);
    if (!appliesTo(k, domain)) {
      throw new ValidationError(`${what}: data key ${id} is declared for ${k.domain}`);
    }
    if (k.attrName) out.set(k.attrName, textOf(d));
  }
  return out;
}

function appliesTo(k: KeyDecl, domain: Domain): boolean {
  return k.domain === domain || k.domain === 'all';
}

function toInt(raw: string, name: string, what: string): number {
  const n = Number(raw);
  if (!/^[+-]?\d+$/.test(raw) || !Number.isSafeInteger(n)) {
    throw new ValidationError(`${what}: ${name} "${raw}" is not an integer`);
  }
  return n;
}

function toEnv(raw: string, what: string): unknown {
  if (raw === '') return {};
  let env: unknown;
  try {
    env = JSON.parse(raw);
  } catch (err) {
    throw new ValidationError(`${what}: env is not valid JSON (${(err as Error).message})`);
  }
  if (!isEl(env)) throw new ValidationError(`${what}: env must be a JSON object`);
  return env;
}

function isEl(x: unknown): x is XmlEl {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function elements(el: XmlEl, name: string): XmlEl[] {
  const v = el[name];
  if (!Array.isArray(v)) return [];
  // An empty element such as `<default></default>` parses to '' rather than an object.
  return v.map((x: unknown) => (isEl(x) ? x : { '#text': typeof x === 'string' ? x : '' }));
}

function attr(el: XmlEl, name: string): string | undefined {
  const v = el[`@_${name}`];
  return typeof v === 'string' ? v : undefined;
}

function textOf(el: XmlEl): string {
  const t = el['#text'];
  return typeof t === 'string' ? t.trim() : '';
}

const XML_TEXT: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' };
function esc(s: string): string {
  return s.replace(/[&<>"]/g, (c) => XML_TEXT[c] ?? c);
}

/**
 * Writes a DAG as GraphML with descriptive key ids (`payload`, `dirpath`, …) that
 * `parseGraphML` reads back to an equal DAG. The name is the `<graph id>`, the description
 * a graph-level data element.
 */
export function toGraphML(dag: Dag): string {
  const key = (id: string, domain: Domain, type = 'string') =>
    `  <key id="${id}" for="${domain}" attr.name="${id}" attr.type="${type}"/>`;
  const data = (id: string, value: string | number) => `<data key="${id}">${esc(String(value))}</data>`;
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<graphml xmlns="http://graphml.graphdrawing.org/xmlns" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">',
    key('description', 'graph'),
    ...['payload', 'env', 'jobtype'].map((id) => key(id, 'node')),
    ...['timelimit', 'priority'].map((id) => key(id, 'node', 'int')),
    ...['name', 'dirpath', 'datatype', 'datatag', 'comment'].map((id) => key(id, 'edge')),
    `  <graph id="${esc(dag.name)}" edgedefault="directed">`,
    `    ${data('description', dag.description)}`,
  ];
  for (const v of dag.vertices) {
    lines.push(`    <node id="${esc(v.name)}">`);
    lines.push(`      ${data('payload', v.payload)}`);
    lines.push(`      ${data('env', JSON.stringify(v.env))}`);
    lines.push(`      ${data('jobtype', v.jobtype)}`);
    lines.push(`      ${data('timelimit', v.timelimit)}`);
    lines.push(`      ${data('priority', v.priority)}`);
    lines.push('    </node>');
  }
  for (const e of dag.edges) {
    lines.push(`    <edge source="${esc(e.source)}" target="${esc(e.target)}">`);
    for (const id of ['name', 'dirpath', 'datatype', 'datatag', 'comment'] as const) {
      lines.push(`      ${data(id, e[id])}`);
    }
    lines.push('    </edge>');
  }
  lines.push('  </graph>', '</graphml>', '');
  return lines.join('\n');
}
