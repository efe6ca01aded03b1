import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { type Decision, decide } from '../../shared/core/dag/advance.ts';
import { type Dag, validateDag } from '../../shared/core/dag/dag.ts';
import { JobState } from '../../shared/core/job/job.ts';
import { fixtureDag, fixtureJson } from '../fixtures/dags/support.ts';

type States = Record<string, JobState>;

/** Every job of the DAG in `template`, then the given states. */
function states(dag: Dag, set: States = {}): States {
  return { ...Object.fromEntries(dag.vertices.map((v) => [v.name, 'template' as JobState])), ...set };
}

/** What the workflow advancer would write for a decision. */
function apply(s: States, d: Decision): States {
  const next = { ...s };
  for (const v of d.define) next[v] = 'defined';
  for (const v of d.finishNoop) next[v] = 'finished';
  for (const v of d.cancel) next[v] = 'cancelled';
  return next;
}

const nothing = (d: Decision) => ({ define: d.define, finishNoop: d.finishNoop, cancel: d.cancel });
const EMPTY = { define: [], finishNoop: [], cancel: [] };

const twostep = fixtureDag('chain/twostep.graphml');
const threeFilters = fixtureDag('3filters/3filters.graphml');
const gather = fixtureDag('misc/gather.graphml');

describe('releasing jobs', () => {
  test('starting a workflow finishes its noop root and defines the job after it', () => {
    const d = decide(twostep, states(twostep));
    assert.deepEqual(nothing(d), { define: ['reduction'], finishNoop: ['NOOP1'], cancel: [] });
    assert.equal(d.workflowState, 'defined');
  });

  test('every root of a DAG with several roots is defined at once', () => {
    const dag = validateDag(fixtureJson('json/tworoots.json'));
    assert.deepEqual(decide(dag, states(dag)).define, ['pedestal', 'beam']);
  });

  test('a job with two parents waits while only one of them has finished', () => {
    const dag = validateDag(fixtureJson('json/tworoots.json'));
    const d = decide(dag, states(dag, { pedestal: 'finished', beam: 'running' }));
    assert.deepEqual(nothing(d), EMPTY);
  });

  test('a job with two parents is defined once both have finished', () => {
    const dag = validateDag(fixtureJson('json/tworoots.json'));
    assert.deepEqual(decide(dag, states(dag, { pedestal: 'finished', beam: 'finished' })).define, [
      'compare',
    ]);
  });

  test('the fan-in noop sink of 3filters waits for all three filters', () => {
    const s = states(threeFilters, {
      NOOP1: 'finished',
      filter1: 'finished',
      filter2: 'finished',
      filter3: 'running',
    });
    assert.deepEqual(nothing(decide(threeFilters, s)), EMPTY);
  });

  test('the fan-in noop sink of 3filters finishes with the last filter and so does the workflow', () => {
    const s = states(threeFilters, {
      NOOP1: 'finished',
      filter1: 'finished',
      filter2: 'finished',
      filter3: 'finished',
    });
    const d = decide(threeFilters, s);
    assert.deepEqual(nothing(d), { define: [], finishNoop: ['NOOP2'], cancel: [] });
    assert.equal(d.workflowState, 'finished');
  });

  test('a parent that failed never releases its child (the original released on any stop)', () => {
    const d = decide(twostep, states(twostep, { NOOP1: 'finished', reduction: 'failed' }));
    assert.deepEqual(d.define, []);
    assert.deepEqual(d.finishNoop, []);
  });

  test('a job that is already queued or running is left alone', () => {
    for (const reco of ['defined', 'dispatched', 'running'] as const) {
      const d = decide(twostep, states(twostep, { NOOP1: 'finished', reduction: 'finished', reco }));
      assert.deepEqual(nothing(d), EMPTY, reco);
    }
  });
});

describe('noop vertices', () => {
  test('a noop in the middle passes release on to the job after it in the same decision', () => {
    const s = states(gather, { NOOP1: 'finished', filter1: 'finished', filter2: 'finished' });
    const d = decide(gather, s);
    assert.deepEqual(nothing(d), { define: ['merge'], finishNoop: ['gather'], cancel: [] });
  });

  test('a noop in the middle waits for all of its parents', () => {
    const s = states(gather, { NOOP1: 'finished', filter1: 'finished', filter2: 'running' });
    assert.deepEqual(nothing(decide(gather, s)), EMPTY);
  });

  test('a chain of noops is followed to the first real job', () => {
    const dag = validateDag({
      name: 'noops',
      vertices: [
        { name: 'n1', jobtype: 'noop' },
        { name: 'n2', jobtype: 'noop' },
        { name: 'n3', jobtype: 'noop' },
        { name: 'job', jobtype: 'reco', payload: '/bin/reco' },
      ],
      edges: [
        { source: 'n1', target: 'n2', datatype: 'TXT' },
        { source: 'n2', target: 'n3', datatype: 'TXT' },
        { source: 'n3', target: 'job', datatype: 'TXT' },
      ],
    });
    assert.deepEqual(nothing(decide(dag, states(dag))), {
      define: ['job'],
      finishNoop: ['n1', 'n2', 'n3'],
      cancel: [],
    });
  });

  test('a noop found defined is finished rather than left in the queue', () => {
    const d = decide(twostep, states(twostep, { NOOP1: 'defined' }));
    assert.deepEqual(d.finishNoop, ['NOOP1']);
  });

  test('a DAG of only noops finishes at once', () => {
    const dag = validateDag({
      name: 'empty',
      vertices: [
        { name: 'in', jobtype: 'noop' },
        { name: 'out', jobtype: 'noop' },
      ],
      edges: [{ source: 'in', target: 'out', datatype: 'TXT' }],
    });
    const d = decide(dag, states(dag));
    assert.deepEqual(d.finishNoop, ['in', 'out']);
    assert.equal(d.workflowState, 'finished');
  });
});

describe('failures', () => {
  test('a failed middle job cancels its descendants and fails the workflow', () => {
    const d = decide(twostep, states(twostep, { NOOP1: 'finished', reduction: 'failed' }));
    assert.deepEqual(d.cancel, ['reco', 'NOOP2']);
    assert.equal(d.workflowState, 'failed');
  });

  for (const end of ['failed', 'timelimit', 'pilotTO', 'stale', 'dropped', 'killed', 'nonstarter'] as const) {
    test(`a job that ended ${end} cancels what is below it and fails the workflow`, () => {
      const d = decide(twostep, states(twostep, { NOOP1: 'finished', reduction: end }));
      assert.deepEqual([d.cancel, d.workflowState], [['reco', 'NOOP2'], 'failed']);
    });
  }

  test('a failure cancels queued descendants too', () => {
    const s = states(gather, {
      NOOP1: 'finished',
      filter1: 'failed',
      filter2: 'finished',
      gather: 'defined',
    });
    assert.deepEqual(decide(gather, s).cancel, ['gather', 'merge']);
  });

  test('a branch that does not descend from the failure keeps running', () => {
    const s = states(threeFilters, {
      NOOP1: 'finished',
      filter1: 'failed',
      filter2: 'running',
      filter3: 'defined',
    });
    const d = decide(threeFilters, s);
    assert.deepEqual(d.cancel, ['NOOP2']);
    assert.equal(d.workflowState, 'failed');
  });

  test('a job below a failure is cancelled even if its other parents finished', () => {
    const s = states(gather, { NOOP1: 'finished', filter1: 'finished', filter2: 'timelimit' });
    const d = decide(gather, s);
    assert.deepEqual(nothing(d), { define: [], finishNoop: [], cancel: ['gather', 'merge'] });
  });

  test('a workflow whose only ended-badly jobs are cancelled is cancelled', () => {
    const s = states(twostep, {
      NOOP1: 'finished',
      reduction: 'cancelled',
      reco: 'cancelled',
      NOOP2: 'cancelled',
    });
    assert.equal(decide(twostep, s).workflowState, 'cancelled');
  });
});

describe('workflow state', () => {
  test('a workflow is running once a real job has been dispatched', () => {
    const s = states(twostep, { NOOP1: 'finished', reduction: 'dispatched' });
    assert.equal(decide(twostep, s).workflowState, 'running');
  });

  test('a workflow stays running between one job finishing and the next starting', () => {
    const s = states(twostep, { NOOP1: 'finished', reduction: 'finished' });
    assert.equal(decide(twostep, s).workflowState, 'running');
  });

  test('a workflow is not finished while one job is still running', () => {
    const s = states(twostep, { NOOP1: 'finished', reduction: 'finished', reco: 'running' });
    assert.equal(decide(twostep, s).workflowState, 'running');
  });

  test('a workflow is finished when all its jobs are', () => {
    const all = Object.fromEntries(twostep.vertices.map((v) => [v.name, 'finished' as JobState]));
    assert.equal(decide(twostep, all).workflowState, 'finished');
  });

  test('a missing job state is an error, not a guess', () => {
    assert.throws(() => decide(twostep, { NOOP1: 'finished' }), /no state for vertex reduction/);
  });
});

describe('idempotence', () => {
  test('deciding again on the applied decision yields nothing new', () => {
    for (const [dag, s] of [
      [twostep, states(twostep)],
      [gather, states(gather, { NOOP1: 'finished', filter1: 'finished', filter2: 'finished' })],
      [twostep, states(twostep, { NOOP1: 'finished', reduction: 'failed' })],
    ] as const) {
      const first = decide(dag, s);
      const second = decide(dag, apply(s, first));
      assert.deepEqual(nothing(second), EMPTY);
      assert.equal(second.workflowState, first.workflowState);
    }
  });

  test('driving a workflow to its end one decision at a time finishes every job', () => {
    let s = states(gather);
    for (let round = 0; round < 10; round++) {
      s = apply(s, decide(gather, s));
      // The "pilot" finishes whatever got queued.
      for (const [v, st] of Object.entries(s)) if (st === 'defined') s[v] = 'finished';
    }
    assert.equal(decide(gather, s).workflowState, 'finished');
    assert.ok(Object.values(s).every((st) => st === 'finished'));
  });
});

describe('properties on random DAGs', () => {
  // Not every state: a few terminal ones stand for all, so failures and finishes both occur often.
  const STATES = JobState.options.filter(
    (x) => !['pilotTO', 'stale', 'dropped', 'killed', 'nonstarter'].includes(x),
  );
  // Random DAGs: edges only from lower to higher index, so there is never a cycle; repeated
  // pairs make parallel edges.
  const randomCase = fc
    .integer({ min: 1, max: 9 })
    .chain((n) =>
      fc.record({
        noop: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
        edges: fc.array(fc.tuple(fc.nat(n - 1), fc.nat(n - 1)), { maxLength: 20 }),
        states: fc.array(fc.constantFrom(...STATES), { minLength: n, maxLength: n }),
      }),
    )
    .map(({ noop, edges, states: st }) => {
      const dag = validateDag({
        name: 'random',
        vertices: noop.map((isNoop, i) =>
          isNoop ? { name: `v${i}`, jobtype: 'noop' } : { name: `v${i}`, jobtype: 'reco', payload: '/bin/x' },
        ),
        edges: edges
          .filter(([a, b]) => a !== b)
          .map(([a, b]) => ({ source: `v${Math.min(a, b)}`, target: `v${Math.max(a, b)}`, datatype: 'TXT' })),
      });
      return { dag, states: Object.fromEntries(st.map((x, i) => [`v${i}`, x])) as States };
    });

  test('a decision applied and decided again yields nothing new', () => {
    fc.assert(
      fc.property(randomCase, ({ dag, states: s }) => {
        const first = decide(dag, s);
        const second = decide(dag, apply(s, first));
        assert.deepEqual(nothing(second), EMPTY);
        assert.equal(second.workflowState, first.workflowState);
      }),
    );
  });

  test('a job is only released when all its parents have finished after the decision', () => {
    fc.assert(
      fc.property(randomCase, ({ dag, states: s }) => {
        const d = decide(dag, s);
        const next = apply(s, d);
        for (const v of [...d.define, ...d.finishNoop]) {
          for (const e of dag.edges.filter((x) => x.target === v)) assert.equal(next[e.source], 'finished');
        }
      }),
    );
  });

  test('no job is both released and cancelled', () => {
    fc.assert(
      fc.property(randomCase, ({ dag, states: s }) => {
        const d = decide(dag, s);
        const released = new Set([...d.define, ...d.finishNoop]);
        assert.ok(d.cancel.every((v) => !released.has(v)));
      }),
    );
  });
});
