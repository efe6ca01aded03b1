import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type ParseGraphMLOptions, parseGraphML, toGraphML } from '../../shared/core/dag/graphml.ts';
import { assertInvalid, fixtureDag, fixtureText } from '../fixtures/dags/support.ts';

/** Asserts that parsing `text` throws a ValidationError with this message. */
function rejects(text: string, message: RegExp | string, options: ParseGraphMLOptions = { name: 't' }) {
  assertInvalid(() => parseGraphML(text, options), message);
}

const KEYS = `
  <key id="p" for="node" attr.name="payload" attr.type="string"/>
  <key id="j" for="node" attr.name="jobtype" attr.type="string"/>
  <key id="env" for="node" attr.name="env" attr.type="string"/>
  <key id="t" for="edge" attr.name="datatype" attr.type="string"/>`;

/** A small GraphML document around the given graph content. */
function graphml(body: string, graphAttrs = 'edgedefault="directed"'): string {
  return `<?xml version="1.0"?><graphml xmlns="http://graphml.graphdrawing.org/xmlns">${KEYS}<graph ${graphAttrs}>${body}</graph></graphml>`;
}
const node = (id: string, payload = '/bin/true') =>
  `<node id="${id}"><data key="p">${payload}</data><data key="j">filter</data></node>`;
const edge = (s: string, t: string, extra = '') =>
  `<edge source="${s}" target="${t}" ${extra}><data key="t">TXT</data></edge>`;

describe('reading GraphML', () => {
  test('opaque key ids like d101 are resolved by attr.name', () => {
    const dag = fixtureDag('3filters/3filters.graphml');
    assert.equal(dag.name, '3filters');
    assert.deepEqual(
      dag.vertices.map((v) => v.name),
      ['NOOP1', 'filter1', 'filter2', 'filter3', 'NOOP2'],
    );
    assert.deepEqual(dag.vertices[1], {
      name: 'filter1',
      jobtype: 'filter',
      payload: 'grep -c TEST1 $INPTXT > $OUTTXT1',
      env: { P3S_EXECMODE: 'SHELL' },
      timelimit: 7777,
      priority: 4,
    });
    assert.deepEqual(dag.edges[3], {
      source: 'filter1',
      target: 'NOOP2',
      name: 'output.txt',
      dirpath: '/data/p3s/',
      datatype: 'TXT',
      datatag: 'OUTTXT1',
      comment: 'Simulated output',
    });
  });

  test('descriptive key ids give the same DAG as opaque ones', () => {
    assert.deepEqual(
      fixtureDag('3filters/3filters_mod.graphml', 'x'),
      fixtureDag('3filters/3filters.graphml', 'x'),
    );
  });

  test('a noop vertex keeps its empty payload and zero time limit', () => {
    const noop = fixtureDag('chain/twostep.graphml').vertices[0];
    assert.deepEqual(noop, {
      name: 'NOOP1',
      jobtype: 'noop',
      payload: '',
      env: {},
      timelimit: 0,
      priority: 0,
    });
  });

  test('a raw > in a payload reads the same as &gt;', () => {
    assert.equal(
      fixtureDag('chain/twostep.graphml').vertices[1]?.payload,
      '/bin/grep TEST $INPTXT > $OUTTXT',
    );
    assert.equal(
      fixtureDag('1filter/1filter.graphml').vertices[1]?.payload,
      'grep -c TEST $INPTXT > $OUTTXT',
    );
  });

  test('numeric character references and CDATA are decoded', () => {
    const dag = parseGraphML(graphml(node('a', 'echo &#65;&#x42; &amp;&amp; <![CDATA[cat <in]]>')), {
      name: 't',
    });
    assert.equal(dag.vertices[0]?.payload, 'echo AB && cat <in');
  });

  test('key defaults apply to nodes and edges that lack the data', () => {
    const dag = parseGraphML(fixtureText('misc/defaults.graphml'));
    const purity = dag.vertices.find((v) => v.name === 'purity');
    assert.deepEqual(purity, {
      name: 'purity',
      jobtype: 'purity',
      payload: '/opt/dqm/purity.sh $INPROOT $OUTROOT',
      env: { P3S_EXECMODE: 'SHELL' },
      timelimit: 3600,
      priority: 2,
    });
    assert.equal(dag.edges[0]?.datatype, 'ROOT');
    assert.equal(dag.edges[0]?.dirpath, 'root://eospublic.cern.ch//eos/experiment/np04/dqm/');
  });

  test("a node's own data wins over the key default", () => {
    const summary = parseGraphML(fixtureText('misc/defaults.graphml')).vertices.find(
      (v) => v.name === 'summary',
    );
    assert.equal(summary?.jobtype, 'monitor');
    assert.equal(summary?.priority, 9);
    assert.equal(summary?.timelimit, 3600);
  });

  test('the graph id names the DAG and graph-level data describes it when the caller gives neither', () => {
    const dag = parseGraphML(fixtureText('misc/defaults.graphml'));
    assert.equal(dag.name, 'purity-defaults');
    assert.equal(dag.description, 'Purity analysis with key defaults');
  });

  test("the caller's name and description win over the file's", () => {
    const dag = parseGraphML(fixtureText('misc/defaults.graphml'), { name: 'purity2', description: 'mine' });
    assert.equal(dag.name, 'purity2');
    assert.equal(dag.description, 'mine');
  });

  test('a DAG without any name is rejected', () => {
    rejects(graphml(node('a')), /has no name/, {});
  });

  test('parallel edges between the same two vertices stay separate edges', () => {
    const dag = fixtureDag('misc/wfmulti.graphml');
    const viz = dag.edges.filter((e) => e.source === 'adc' && e.target === 'adcViz');
    assert.deepEqual(
      viz.map((e) => [e.name, e.datatag]),
      [
        ['mean.txt', 'MEANTXT'],
        ['rms.txt', 'RMSTXT'],
      ],
    );
  });

  test('attributes p3s does not know, like networkx multigraph keys, are ignored', () => {
    const dag = fixtureDag('misc/wfmulti.graphml');
    assert.deepEqual(Object.keys(dag.edges[0] ?? {}).sort(), [
      'comment',
      'datatag',
      'datatype',
      'dirpath',
      'name',
      'source',
      'target',
    ]);
  });

  test('several roots are allowed', () => {
    const dag = parseGraphML(graphml(node('a') + node('b') + node('c') + edge('a', 'c') + edge('b', 'c')), {
      name: 't',
    });
    assert.equal(dag.vertices.length, 3);
  });

  test('registered datatypes are checked when given', () => {
    const text = fixtureText('1filter/1filter.graphml');
    assert.equal(parseGraphML(text, { name: 'f', datatypes: ['TXT'] }).edges.length, 2);
    rejects(text, 'edge 1 (NOOP1→filter): unknown datatype TXT', { name: 'f', datatypes: ['ROOT'] });
  });
});

describe('rejecting bad GraphML', () => {
  test('malformed XML is rejected with the parser message and line', () => {
    rejects(
      fixtureText('bad/malformed.graphml'),
      /^malformed XML at line 16, column 3: Expected closing tag 'node'/,
    );
  });

  test('text that is not XML at all is rejected', () => {
    rejects('this is not xml', /^malformed XML/);
  });

  test('XML whose root is not graphml is rejected', () => {
    rejects('<dag><node id="a"/></dag>', /root element must be <graphml>/);
  });

  test('a node without an id is rejected', () => {
    rejects(fixtureText('bad/missing-id.graphml'), 'node 2: missing id');
  });

  test('an edge to an unknown node is rejected naming the edge and the node', () => {
    rejects(fixtureText('bad/dangling.graphml'), 'edge 3 (a→zz): unknown target zz');
  });

  test('an edge without a source is rejected', () => {
    rejects(
      graphml(`${node('a')}<edge target="a"><data key="t">TXT</data></edge>`),
      'edge 1 (?→a): missing source',
    );
  });

  test('a duplicate node id is rejected', () => {
    rejects(fixtureText('bad/duplicate-node.graphml'), 'duplicate vertex name filter');
  });

  test('a cycle is rejected and spelled out', () => {
    rejects(fixtureText('bad/cycle.graphml'), 'cycle: a → b → c → a');
  });

  test('env that is not JSON is rejected naming the node', () => {
    rejects(fixtureText('bad/bad-env.graphml'), /^node filter: env is not valid JSON/);
  });

  test('env that is JSON but not an object is rejected', () => {
    rejects(
      graphml(`<node id="a"><data key="p">x</data><data key="j">f</data><data key="env">["A"]</data></node>`),
      'node a: env must be a JSON object',
    );
  });

  test('env with a nested value is rejected naming the vertex', () => {
    rejects(
      graphml(
        `<node id="a"><data key="p">x</data><data key="j">f</data><data key="env">{"A":{"b":1}}</data></node>`,
      ),
      /^vertex a: env\.A: /,
    );
  });

  test('a non-integer priority is rejected naming the node', () => {
    rejects(fixtureText('bad/bad-priority.graphml'), 'node filter: priority "high" is not an integer');
  });

  test('a data key that is not declared is rejected', () => {
    rejects(fixtureText('bad/undeclared-key.graphml'), 'node filter: data key d9 is not declared');
  });

  test('a node using an edge key is rejected', () => {
    rejects(
      graphml(`<node id="a"><data key="t">TXT</data></node>`),
      'node a: data key t is declared for edge',
    );
  });

  test('an empty payload on a vertex that is not noop is rejected', () => {
    rejects(
      fixtureText('bad/empty-payload.graphml'),
      'vertex filter: empty payload (only noop vertices may have none)',
    );
  });

  test('an undirected graph is rejected', () => {
    rejects(graphml(node('a') + node('b') + edge('a', 'b'), 'edgedefault="undirected"'), /undirected edge/);
  });

  test('a DOCTYPE is refused before any entity could be expanded', () => {
    rejects(
      `<!DOCTYPE g [<!ENTITY x "xx">]>${graphml(node('a', '&x;'))}`,
      'GraphML must not contain a DOCTYPE',
    );
  });

  test('GraphML over 1 MiB is rejected', () => {
    rejects(
      graphml(`<!-- ${'x'.repeat(1024 * 1024)} -->${node('a')}`),
      /^GraphML is \d+ bytes; the limit is 1048576$/,
    );
  });

  test('GraphML with more than 500 nodes is rejected', () => {
    const nodes = Array.from({ length: 501 }, (_, i) => node(`n${i}`)).join('');
    rejects(graphml(nodes), 'GraphML has 501 nodes; the limit is 500');
  });

  test('GraphML with more than 2000 edges is rejected', () => {
    const edges = Array.from({ length: 2001 }, () => edge('a', 'b')).join('');
    rejects(graphml(node('a') + node('b') + edges), 'GraphML has 2001 edges; the limit is 2000');
  });

  test('exactly 500 nodes and 2000 edges are accepted', () => {
    const nodes = Array.from({ length: 500 }, (_, i) => node(`n${i}`)).join('');
    const edges = Array.from({ length: 2000 }, (_, i) => edge(`n${i % 499}`, 'n499')).join('');
    assert.equal(parseGraphML(graphml(nodes + edges), { name: 'big' }).edges.length, 2000);
  });
});

describe('writing GraphML', () => {
  for (const file of [
    '1filter/1filter.graphml',
    '3filters/3filters.graphml',
    'chain/twostep.graphml',
    'misc/wfmulti.graphml',
    'misc/defaults.graphml',
    'misc/gather.graphml',
  ]) {
    test(`${file} survives a round trip through toGraphML`, () => {
      const dag = fixtureDag(file);
      assert.deepEqual(parseGraphML(toGraphML(dag)), dag);
    });
  }

  test('special characters in payload, env and names survive a round trip', () => {
    const dag = parseGraphML(
      graphml(
        `<node id="a:1"><data key="p">test "$X" &lt; in &amp;&amp; echo 'ok' &gt; out</data><data key="j">f</data>` +
          `<data key="env">{"Q":"a&lt;b \\"c\\""}</data></node>`,
      ),
      { name: 'chars', description: 'a <b> & "c"' },
    );
    assert.equal(dag.vertices[0]?.payload, `test "$X" < in && echo 'ok' > out`);
    assert.deepEqual(parseGraphML(toGraphML(dag)), dag);
  });

  test('toGraphML declares descriptive key ids', () => {
    const text = toGraphML(fixtureDag('3filters/3filters.graphml'));
    assert.match(text, /<key id="payload" for="node" attr.name="payload" attr.type="string"\/>/);
    assert.match(text, /<key id="priority" for="node" attr.name="priority" attr.type="int"\/>/);
    assert.match(text, /<data key="datatag">OUTTXT3<\/data>/);
    assert.doesNotMatch(text, /d101/);
  });
});
