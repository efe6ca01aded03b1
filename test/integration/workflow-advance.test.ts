import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { advanceWorkflow } from '../../shared/db/workflow-runner.ts';
import { SimPilot } from '../helpers/pilot-sim.ts';
import { startTestStack, type TestStack, waitFor } from '../helpers/stack.ts';

/**
 * Workflow execution driven by the jobs stream (issue 6), with simulated pilots: release needs
 * all parents, noops pass release on, a failure cancels descendants and fails the workflow,
 * advancing is idempotent under repeated and concurrent steps, cancel and delete.
 */
let s: TestStack;
before(async () => {
  s = await startTestStack();
  assert.equal((await s.call('POST', '/datatypes', { body: { name: 'TXT', ext: '.txt' } })).status, 200);
  for (const f of ['diamond.json', 'gather.json']) {
    const dag = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'workflows', f), 'utf8'));
    assert.equal((await s.call('POST', '/dags', { body: { dag } })).status, 201);
  }
});
after(async () => {
  await s.close();
});

/**
 * Simulated pilots that claim jobs as they are queued and hold them until the test ends them, so
 * a test decides the order in which jobs end. Idle pilots are polled again (the matchmaker may
 * hand them a job meanwhile).
 */
class Runner {
  private pilots: SimPilot[] = [];
  private held = new Map<string, SimPilot>();

  private async pollIdle(): Promise<void> {
    const busy = new Set(this.held.values());
    const idle = this.pilots.filter((p) => !busy.has(p));
    if (!idle.length) {
      const p = new SimPilot(s);
      assert.equal((await p.register()).status, 201);
      this.pilots.push(p);
      idle.push(p);
    }
    for (const p of idle) {
      const r = await p.poll();
      if (r.body.state === 'dispatched') this.held.set(r.body.job.id, p);
    }
  }

  /** Waits until the job is dispatched to one of our pilots. */
  async claim(jobId: string): Promise<SimPilot> {
    return waitFor(
      async () => {
        if (!this.held.has(jobId)) await this.pollIdle();
        return this.held.get(jobId);
      },
      { what: `job ${jobId} dispatched`, intervalMs: 50 },
    );
  }

  /** Starts the job and ends it with `exitCode` (or another end event, e.g. `killed`). */
  async end(jobId: string, how: { exitCode?: number; event?: string } = { exitCode: 0 }): Promise<void> {
    const p = await this.claim(jobId);
    assert.equal((await p.report({ event: 'jobstart', jobId })).status, 200);
    const r = await p.report({ event: how.event ?? 'jobstop', jobId, exitCode: how.exitCode });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    this.held.delete(jobId);
  }

  async start(jobId: string): Promise<void> {
    const p = await this.claim(jobId);
    assert.equal((await p.report({ event: 'jobstart', jobId })).status, 200);
  }

  async stopAll(): Promise<void> {
    for (const p of this.pilots) await p.report({ event: 'stopped' });
    this.pilots = [];
    this.held.clear();
  }
}

let run: Runner;
afterEach(async () => {
  await run?.stopAll();
});

type Wf = {
  id: string;
  state: string;
  ndone: number;
  jobs: { vertex: string; id: string; state: string; message?: string }[];
};
const show = async (id: string): Promise<Wf> => (await s.call('GET', `/workflows/${id}`)).body;
const states = (w: Wf) => Object.fromEntries(w.jobs.map((j) => [j.vertex, j.state]));
const jobOf = (w: Wf, v: string) => w.jobs.find((j) => j.vertex === v)!.id;

async function start(dag: string): Promise<Wf> {
  const r = await s.call('POST', '/workflows', { body: { dag, state: 'defined' } });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

/**
 * Waits until the workflow's jobs are in the given states (others unchecked) and, with
 * `workflow`, the workflow in that state (an advance step writes the jobs first).
 */
async function until(id: string, want: Record<string, string>, what: string, workflow?: string): Promise<Wf> {
  return waitFor(
    async () => {
      const w = await show(id);
      const st = states(w);
      const jobs = Object.entries(want).every(([v, x]) => st[v] === x);
      return jobs && (!workflow || w.state === workflow) ? w : undefined;
    },
    { what, timeoutMs: 15_000 },
  );
}

describe('workflow execution', () => {
  test('a job is released only when all its parents finished; the noop sink finishes; the workflow finishes', async () => {
    run = new Runner();
    const w = await start('diamond');
    assert.deepEqual(states(w), {
      a: 'defined',
      b: 'template',
      c: 'template',
      d: 'template',
      sink: 'template',
      e: 'defined',
      f: 'template',
    });
    await run.end(jobOf(w, 'a'));
    await until(w.id, { b: 'defined', c: 'defined' }, 'b and c released by a');
    await run.end(jobOf(w, 'b'));
    await until(w.id, { b: 'finished' }, 'b finished');
    // Let the stream step that follows b's end run: d must stay template (c has not finished).
    const mid = await waitFor(async () => {
      const x = await show(w.id);
      return x.ndone >= 2 ? x : undefined;
    });
    assert.equal(states(mid).d, 'template', 'a join waits for every parent');
    assert.equal(mid.state, 'running');
    await run.end(jobOf(w, 'c'));
    await until(w.id, { d: 'defined' }, 'd released when c, its last parent, finished');
    await run.end(jobOf(w, 'd'));
    await run.end(jobOf(w, 'e'));
    await until(w.id, { f: 'defined' }, 'f released');
    await run.end(jobOf(w, 'f'));
    const done = await waitFor(
      async () => {
        const x = await show(w.id);
        return x.state === 'finished' ? x : undefined;
      },
      { what: 'workflow finished', timeoutMs: 15_000 },
    );
    assert.ok(Object.values(states(done)).every((x) => x === 'finished'));
    assert.equal(done.ndone, 7);
    const sink = (await s.call('GET', `/jobs/${jobOf(done, 'sink')}`)).body;
    assert.equal(sink.pilotId, undefined, 'a noop is never dispatched');
    const listed = (await s.call('GET', '/workflows?state=finished')).body.workflows;
    assert.ok(listed.some((x: { id: string; endedAt?: string }) => x.id === w.id && x.endedAt));
  });

  test('a failed job cancels its descendants and fails the workflow; independent branches carry on', async () => {
    run = new Runner();
    const w = await start('diamond');
    await run.end(jobOf(w, 'a'));
    await until(w.id, { b: 'defined', c: 'defined' }, 'b and c released');
    await run.end(jobOf(w, 'b'), { exitCode: 3 });
    const failed = await until(
      w.id,
      { b: 'failed', d: 'cancelled', sink: 'cancelled' },
      'descendants of b cancelled, workflow failed',
      'failed',
    );
    const d = failed.jobs.find((j) => j.vertex === 'd')!;
    assert.equal(d.message, 'cancelled: upstream job b ended failed');
    assert.equal(states(failed).c, 'defined', 'c does not descend from b');
    await run.end(jobOf(w, 'c'));
    await run.end(jobOf(w, 'e'));
    const f = await until(w.id, { c: 'finished', f: 'defined' }, 'the independent branch released f');
    assert.equal(f.state, 'failed', 'failed is final');
    await run.end(jobOf(w, 'f'));
    const end = await until(w.id, { f: 'finished' }, 'f finished');
    assert.equal(end.state, 'failed');
    await waitFor(async () => (await show(w.id)).ndone === 7, { what: 'every job counted as ended' });
    // d never left the queue index: nothing can ever dispatch it.
    assert.equal((await s.call('GET', `/jobs/${jobOf(w, 'd')}`)).body.definedAt, undefined);
  });

  test('a noop in the middle passes the release on in the same step', async () => {
    run = new Runner();
    const w = await start('gather');
    await run.end(jobOf(w, 'a'));
    await until(w.id, { mid: 'finished', m: 'defined' }, 'mid finished and m released');
    // The workflow item is written by the same advance step, right after the jobs.
    await waitFor(async () => (await show(w.id)).state === 'running', { what: 'workflow running' });
    await run.end(jobOf(w, 'm'));
    await waitFor(async () => (await show(w.id)).state === 'finished', { what: 'finished' });
  });

  test('advancing again, many times at once, changes nothing (idempotent)', async () => {
    run = new Runner();
    const w = await start('diamond');
    await run.end(jobOf(w, 'a'));
    const released = await until(w.id, { b: 'defined', c: 'defined' }, 'b and c released');
    const before = await Promise.all(['b', 'c'].map((v) => s.call('GET', `/jobs/${jobOf(w, v)}`)));
    const steps = await Promise.all(Array.from({ length: 8 }, () => advanceWorkflow(w.id)));
    for (const r of steps) assert.deepEqual([r.defined, r.finished, r.cancelled], [[], [], []]);
    // A replayed stream record of a's end (duplicate delivery) changes nothing either.
    const a = (await s.call('GET', `/jobs/${jobOf(w, 'a')}`)).body;
    await s.invoke('jobEvents', {
      Records: [
        {
          eventName: 'MODIFY',
          eventSourceARN: `arn:aws:dynamodb:us-east-1:000000000000:table/${s.tablePrefix}-jobs/stream/x`,
          dynamodb: {
            SequenceNumber: '1',
            OldImage: { id: { S: a.id }, state: { S: 'running' }, workflowId: { S: w.id } },
            NewImage: { id: { S: a.id }, state: { S: 'finished' }, workflowId: { S: w.id } },
          },
        },
      ],
    });
    const after = await Promise.all(['b', 'c'].map((v) => s.call('GET', `/jobs/${jobOf(w, v)}`)));
    assert.deepEqual(
      after.map((r) => [r.body.state, r.body.definedAt]),
      before.map((r) => [r.body.state, r.body.definedAt]),
    );
    assert.deepEqual(states(await show(w.id)), states(released));
    await s.call('DELETE', `/workflows/${w.id}?force=true`);
  });

  test('an operator killing a workflow job fails the workflow and cancels what is below it', async () => {
    run = new Runner();
    const w = await start('gather');
    await run.start(jobOf(w, 'a'));
    const k = await s.call('POST', `/jobs/${jobOf(w, 'a')}/kill`);
    assert.equal(k.status, 200, JSON.stringify(k.body));
    await run.end(jobOf(w, 'a'), { event: 'killed' });
    await until(w.id, { a: 'killed', mid: 'cancelled', m: 'cancelled' }, 'below a cancelled', 'failed');
  });

  test('cancel: queued jobs are cancelled, running ones killed, and the workflow stays cancelled', async () => {
    run = new Runner();
    const w = await start('diamond');
    await run.end(jobOf(w, 'a'));
    await until(w.id, { b: 'defined', c: 'defined' }, 'b and c released');
    await run.start(jobOf(w, 'b'));
    const c = await s.call('POST', `/workflows/${w.id}/cancel`);
    assert.equal(c.status, 200, JSON.stringify(c.body));
    assert.equal(c.body.state, 'cancelled');
    const st = states(c.body);
    assert.deepEqual(
      { c: st.c, d: st.d, e: st.e, f: st.f, sink: st.sink },
      // e was queued ahead of b and c, so one of the pilots already holds it: dispatched → killed.
      { c: 'cancelled', d: 'cancelled', e: 'killed', f: 'cancelled', sink: 'cancelled' },
    );
    const b = (await s.call('GET', `/jobs/${jobOf(w, 'b')}`)).body;
    assert.equal(b.state, 'running');
    assert.equal(b.killRequested, true, 'the running job is asked to die');
    await run.end(jobOf(w, 'b'), { event: 'killed' });
    const end = await until(w.id, { b: 'killed' }, 'b killed');
    assert.equal(end.state, 'cancelled', 'a killed job does not turn a cancelled workflow into failed');
    assert.equal((await s.call('POST', `/workflows/${w.id}/define`)).status, 409);
    const del = await s.call('DELETE', `/workflows/${w.id}`);
    assert.equal(del.status, 200);
    assert.deepEqual(del.body, { deleted: w.id, jobs: 7, inFlight: [] });
  });

  test('delete --force kills a running workflow first and reports the jobs still being killed', async () => {
    run = new Runner();
    const w = await start('gather');
    await run.start(jobOf(w, 'a'));
    const no = await s.call('DELETE', `/workflows/${w.id}`);
    assert.equal(no.status, 409);
    assert.match(no.body.message, /1 job\(s\) in flight/);
    const r = await s.call('DELETE', `/workflows/${w.id}?force=true`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.inFlight, [jobOf(w, 'a')]);
    assert.equal(r.body.jobs, 2);
    assert.equal((await s.call('GET', `/workflows/${w.id}`)).status, 404);
    // The running job ends as killed when its pilot reports; advancing a deleted workflow is a no-op.
    await run.end(jobOf(w, 'a'), { event: 'killed' });
    assert.equal((await s.call('GET', `/jobs/${jobOf(w, 'a')}`)).body.state, 'killed');
    assert.deepEqual(await advanceWorkflow(w.id), { defined: [], finished: [], cancelled: [] });
  });
});
