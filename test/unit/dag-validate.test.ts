import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type DagInput, roots, topoSort, validateDag } from '../../shared/core/dag/dag.ts';
import { assertInvalid, fixtureDag, fixtureJson } from '../fixtures/dags/support.ts';

function rejects(input: unknown, message: RegExp | string, datatypes?: string[]) {
  assertInvalid(() => validateDag(input, { datatypes }), message);
}

/** A two-vertex DAG in JSON form, with the given changes. */
function small(change: (d: DagInput) => void = () => {}): DagInput {
  const d: DagInput = {
    name: 'small',
    vertices: [
      { name: 'a', jobtype: 'reco', payload: '/bin/a.sh' },
      { name: 'b', jobtype: 'reco', payload: '/bin/b.sh' },
    ],
    edges: [{ source: 'a', target: 'b', datatype: 'TXT', datatag: 'ATXT' }],
  };
  change(d);
  return d;
}

describe('the JSON form of a DAG', () => {
  test('a DAG with two roots is valid and both are roots', () => {
    const dag = validateDag(fixtureJson('json/tworoots.json'), { datatypes: ['TXT'] });
    assert.deepEqual(roots(dag), ['pedestal', 'beam']);
  });

  test('left-out fields take the original defaults', () => {
    const dag = validateDag({ name: 'd', vertices: [{ name: 'a', jobtype: 'reco', payload: '/bin/a' }] });
    assert.deepEqual(dag, {
      name: 'd',
      description: '',
      vertices: [{ name: 'a', jobtype: 'reco', payload: '/bin/a', env: {}, timelimit: 1000, priority: 0 }],
      edges: [],
    });
  });

  test('numbers and booleans in env become strings', () => {
    const dag = validateDag(fixtureJson('json/tworoots.json'));
    assert.deepEqual(dag.vertices[1]?.env, { P3S_NEVENTS: '10', P3S_VERBOSE: 'true' });
  });

  test('edge fields left out default to empty strings', () => {
    const edge = validateDag(small()).edges[0];
    assert.deepEqual(edge, {
      source: 'a',
      target: 'b',
      name: '',
      dirpath: '',
      datatype: 'TXT',
      datatag: 'ATXT',
      comment: '',
    });
  });

  test('a vertex name with a space is rejected naming the vertex and the field', () => {
    rejects(
      small((d) => {
        d.vertices[0]!.name = 'my job';
      }),
      /^vertex my job: name: must be 1–64 characters/,
    );
  });

  test('a datatag of __proto__ is rejected rather than lost from the env', () => {
    rejects(
      small((d) => {
        d.edges![0]!.datatag = '__proto__';
      }),
      'edge 1 (a→b): datatag: is reserved',
    );
  });

  test('a DAG name longer than 64 characters is rejected', () => {
    rejects(
      small((d) => {
        d.name = 'x'.repeat(65);
      }),
      /^name: must be 1–64 characters/,
    );
  });

  test('a misspelt field is rejected rather than ignored', () => {
    const d = small() as { vertices: Record<string, unknown>[] };
    d.vertices[0]!.payloads = '/bin/a.sh';
    rejects(d, /^vertex a: Unrecognized key: "payloads"/);
  });

  test('a datatag that is not an environment variable name is rejected naming the edge', () => {
    rejects(
      small((d) => {
        d.edges![0]!.datatag = 'IN-TXT';
      }),
      /^edge 1 \(a→b\): datatag: must be an environment variable name/,
    );
  });

  test('an edge without a datatype is rejected', () => {
    const d = small() as { edges: Record<string, unknown>[] };
    delete d.edges[0]!.datatype;
    rejects(d, /^edge 1 \(a→b\): datatype: /);
  });

  test('an unknown datatype is rejected when the registered ones are given', () => {
    rejects(small(), 'edge 1 (a→b): unknown datatype TXT', ['ROOT', 'HDF5']);
  });

  test('any datatype passes when the registered ones are not given', () => {
    assert.equal(validateDag(small()).edges[0]?.datatype, 'TXT');
  });

  test('an edge from an unknown vertex is rejected', () => {
    rejects(
      small((d) => {
        d.edges![0]!.source = 'zz';
      }),
      'edge 1 (zz→b): unknown source zz',
    );
  });

  test('a noop vertex may have an empty payload', () => {
    const dag = validateDag(
      small((d) => {
        d.vertices[0] = { name: 'a', jobtype: 'noop', timelimit: 0 };
      }),
    );
    assert.equal(dag.vertices[0]?.payload, '');
  });

  test('a vertex that is not noop may not have an empty payload', () => {
    rejects(
      small((d) => {
        d.vertices[1]!.payload = '   ';
      }),
      'vertex b: empty payload (only noop vertices may have none)',
    );
  });

  test('a vertex that is not noop needs a time limit of at least one second', () => {
    rejects(
      small((d) => {
        d.vertices[1]!.timelimit = 0;
      }),
      'vertex b: timelimit must be at least 1 second',
    );
  });

  test('a fractional priority is rejected', () => {
    rejects(
      small((d) => {
        d.vertices[1]!.priority = 1.5;
      }),
      /^vertex b: priority: /,
    );
  });

  test('a DAG without vertices is rejected', () => {
    rejects({ name: 'empty', vertices: [] }, /^vertices: /);
  });

  test('more than 500 vertices are rejected', () => {
    const vertices = Array.from({ length: 501 }, (_, i) => ({ name: `v${i}`, jobtype: 'r', payload: 'x' }));
    rejects({ name: 'big', vertices }, /^vertices: /);
  });

  test('a self-loop is a cycle', () => {
    rejects(
      small((d) => {
        d.edges!.push({ source: 'b', target: 'b', datatype: 'TXT' });
      }),
      'cycle: b → b',
    );
  });
});

describe('topological order', () => {
  test('parents come before children and ties keep declaration order', () => {
    assert.deepEqual(topoSort(fixtureDag('3filters/3filters.graphml')), [
      'NOOP1',
      'filter1',
      'filter2',
      'filter3',
      'NOOP2',
    ]);
  });

  test('a vertex declared before its parent still comes after it', () => {
    const dag = validateDag(
      small((d) => {
        d.vertices.reverse();
      }),
    );
    assert.deepEqual(topoSort(dag), ['a', 'b']);
  });

  test('parallel edges do not hold a vertex back', () => {
    assert.deepEqual(topoSort(fixtureDag('misc/wfmulti.graphml')), ['adc', 'adcViz', 'stats']);
  });
});
