import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { workflowTimes } from '../../shared/core/workflow/workflow.ts';
import { SimPilot } from '../helpers/pilot-sim.ts';
import { startTestStack, type TestStack, waitFor } from '../helpers/stack.ts';

/**
 * A workflow's startedAt/endedAt are its jobs' times (first start, last end), not the moments the
 * stream-driven advancer happened to run: the advancer sees job changes in batches, so a short
 * workflow used to get startedAt == endedAt.
 */
let s: TestStack;
before(async () => {
  s = await startTestStack();
  assert.equal((await s.call('POST', '/datatypes', { body: { name: 'TXT', ext: '.txt' } })).status, 200);
  const v = (name: string) => ({ name, jobtype: 'wftimes', payload: '/bin/true' });
  const dag = {
    name: 'times',
    vertices: [v('first'), v('second')],
    edges: [{ source: 'first', target: 'second', datatype: 'TXT', datatag: 'MID' }],
  };
  assert.equal((await s.call('POST', '/dags', { body: { dag } })).status, 201);
});
after(async () => {
  await s.close();
});

async function run(p: SimPilot): Promise<string> {
  const r = await waitFor(
    async () => {
      const x = await p.poll();
      return x.body.state === 'dispatched' ? x : undefined;
    },
    { what: 'a job for the pilot', intervalMs: 30 },
  );
  const id: string = r.body.job.id;
  assert.equal((await p.report({ event: 'jobstart', jobId: id })).status, 200);
  assert.equal((await p.report({ event: 'jobstop', jobId: id, exitCode: 0 })).status, 200);
  return id;
}

describe('workflow timestamps', () => {
  test('a finished workflow started when its first job started and ended when its last job ended', async () => {
    const wf = await s.call('POST', '/workflows', { body: { dag: 'times', state: 'defined' } });
    assert.equal(wf.status, 201, JSON.stringify(wf.body));
    const p = new SimPilot(s);
    assert.equal((await p.register()).status, 201);
    const first = await run(p);
    const second = await run(p);
    const w = await waitFor(
      async () => {
        const r = (await s.call('GET', `/workflows/${wf.body.id}`)).body;
        return r.state === 'finished' ? r : undefined;
      },
      { what: 'the workflow finished', timeoutMs: 15_000 },
    );
    const a = (await s.call('GET', `/jobs/${first}`)).body;
    const b = (await s.call('GET', `/jobs/${second}`)).body;
    assert.equal(w.startedAt, a.startedAt, 'started with its first job');
    assert.equal(w.endedAt, b.endedAt, 'ended with its last job');
    assert.ok(w.startedAt < w.endedAt, `${w.startedAt} < ${w.endedAt}`);
    await p.report({ event: 'stopped' });
  });

  test('times come from the jobs; a step that ends jobs itself ends at its own time', () => {
    const jobs = [
      { startedAt: '2026-01-01T00:00:02.000Z', endedAt: '2026-01-01T00:00:03.000Z' },
      { startedAt: '2026-01-01T00:00:01.000Z', endedAt: '2026-01-01T00:00:05.000Z' },
      {},
    ];
    assert.deepEqual(workflowTimes(jobs, '2026-01-01T00:00:09.000Z', false), {
      startedAt: '2026-01-01T00:00:01.000Z',
      endedAt: '2026-01-01T00:00:05.000Z',
    });
    assert.deepEqual(workflowTimes(jobs, '2026-01-01T00:00:09.000Z', true), {
      startedAt: '2026-01-01T00:00:01.000Z',
      endedAt: '2026-01-01T00:00:09.000Z',
    });
    // Only noops (nothing started): the first end, else now.
    assert.deepEqual(workflowTimes([], '2026-01-01T00:00:09.000Z', false), {
      startedAt: '2026-01-01T00:00:09.000Z',
      endedAt: '2026-01-01T00:00:09.000Z',
    });
  });
});
