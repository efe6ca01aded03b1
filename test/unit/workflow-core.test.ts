import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { instantiate } from '../../shared/core/dag/instantiate.ts';
import {
  cancelMessage,
  DagUpload,
  dagFromUpload,
  filesByVertex,
  statesBefore,
  workflowToAdvance,
} from '../../shared/core/workflow/workflow.ts';
import { assertInvalid, fixtureDag, fixtureJson, fixtureText } from '../fixtures/dags/support.ts';

describe('which job changes advance a workflow', () => {
  const job = (state: string, extra: Record<string, unknown> = {}) => ({
    id: 'j',
    workflowId: 'w1',
    state,
    ...extra,
  });

  test('a workflow job that starts or ends advances its workflow', () => {
    assert.equal(workflowToAdvance(job('dispatched'), job('running')), 'w1');
    for (const end of [
      'finished',
      'failed',
      'timelimit',
      'pilotTO',
      'stale',
      'killed',
      'cancelled',
      'nonstarter',
    ])
      assert.equal(workflowToAdvance(job('running'), job(end)), 'w1', end);
  });

  test('creation, release, dispatch, repeats, deletions and plain jobs do not', () => {
    assert.equal(workflowToAdvance(undefined, job('template')), undefined, 'created as template');
    assert.equal(workflowToAdvance(job('template'), job('defined')), undefined, 'released');
    assert.equal(workflowToAdvance(job('defined'), job('dispatched')), undefined, 'dispatched');
    assert.equal(workflowToAdvance(job('running'), job('running', { lastBeat: 1 })), undefined, 'heartbeat');
    assert.equal(workflowToAdvance(job('finished'), undefined), undefined, 'ended, then deleted or purged');
    assert.equal(
      workflowToAdvance({ state: 'running' }, { state: 'finished' }),
      undefined,
      'not a workflow job',
    );
  });

  test('a workflow job deleted before it ended advances its workflow (it counts as cancelled)', () => {
    assert.equal(workflowToAdvance(job('template'), undefined), 'w1');
    assert.equal(workflowToAdvance(job('defined'), undefined), 'w1');
    assert.equal(workflowToAdvance({ state: 'defined' }, undefined), undefined, 'not a workflow job');
  });
});

describe('workflow state moves forward only', () => {
  test('each state may be reached only from the ones before it; ends are final', () => {
    assert.deepEqual(statesBefore('template'), []);
    assert.deepEqual(statesBefore('defined'), ['template']);
    assert.deepEqual(statesBefore('running'), ['template', 'defined']);
    for (const end of ['finished', 'failed', 'cancelled'] as const)
      assert.deepEqual(statesBefore(end), ['template', 'defined', 'running'], end);
  });
});

describe('cancellation messages', () => {
  test('name the failed ancestors, not unrelated failures', () => {
    const dag = fixtureDag('chain/twostep.graphml');
    const m = cancelMessage(dag, 'NOOP2', {
      NOOP1: 'finished',
      reduction: 'timelimit',
      reco: 'cancelled',
      NOOP2: 'template',
    });
    assert.equal(m, 'cancelled: upstream job reduction ended timelimit');
    assert.equal(
      cancelMessage(dag, 'reduction', { NOOP1: 'finished' }),
      'cancelled: an upstream job did not finish',
    );
  });
});

describe('uploads', () => {
  test('GraphML takes the caller’s name; JSON keeps its own unless one is given', () => {
    const g = dagFromUpload(
      DagUpload.parse({ name: 'mine', graphml: fixtureText('1filter/1filter.graphml') }),
      ['TXT'],
    );
    assert.equal(g.name, 'mine');
    const json = fixtureJson('json/tworoots.json') as Record<string, unknown>;
    assert.equal(dagFromUpload(DagUpload.parse({ dag: json }), ['TXT']).name, 'pedestal-beam');
    assert.equal(dagFromUpload(DagUpload.parse({ dag: json, name: 'renamed' }), ['TXT']).name, 'renamed');
  });

  test('unknown datatypes are rejected when the registered ones are given', () => {
    assertInvalid(
      () => dagFromUpload(DagUpload.parse({ dag: fixtureJson('json/tworoots.json') }), ['ROOT']),
      /unknown datatype TXT/,
    );
  });

  test('exactly one of graphml or dag', () => {
    assert.equal(DagUpload.safeParse({ name: 'x' }).success, false);
    assert.equal(DagUpload.safeParse({ graphml: '<g/>', dag: {} }).success, false);
  });
});

describe('files by vertex', () => {
  test('each vertex lists the files on its incoming and outgoing edges', () => {
    const dag = fixtureDag('3filters/3filters.graphml');
    let n = 0;
    const inst = instantiate(dag, {
      workflowId: 'w',
      datatypes: { TXT: { ext: '.txt' } },
      newId: () => `f${++n}`,
    });
    const by = filesByVertex(inst.files);
    assert.deepEqual(by.get('filter2'), {
      inputs: [{ id: 'f2', peer: 'NOOP1', datatag: 'INPTXT', path: '/data/p3s/f2.txt' }],
      outputs: [{ id: 'f5', peer: 'NOOP2', datatag: 'OUTTXT2', path: '/data/p3s/f5.txt' }],
    });
    assert.equal(by.get('NOOP1')?.outputs.length, 3);
    assert.equal(by.get('NOOP2')?.inputs.length, 3);
  });
});
