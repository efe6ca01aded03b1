import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

/**
 * Trigger rules that create workflows (issue 6 × the data-arrival rules): an arriving file
 * creates and defines a workflow from the rule's DAG, with the rule's fileinfo and jobinfo, and
 * every job of it gets P3S_INPUT_FILE = the file's location.
 */
let s: TestStack;
const fixtures = join(import.meta.dirname, '..', 'fixtures');
before(async () => {
  s = await startTestStack();
  assert.equal((await s.call('POST', '/datatypes', { body: { name: 'TXT', ext: '.txt' } })).status, 200);
  const graphml = readFileSync(join(fixtures, 'dags', '1filter', '1filter.graphml'), 'utf8');
  assert.equal((await s.call('POST', '/dags', { body: { name: 'onefilter', graphml } })).status, 201);
  const rule = JSON.parse(readFileSync(join(fixtures, 'workflows', 'rule-workflow.json'), 'utf8'));
  assert.equal((await s.call('POST', '/rules', { body: rule })).status, 201);
});
after(async () => {
  await s.close();
});

async function register(location: string) {
  const r = await s.call('POST', '/data', { body: { location } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.results[0] as {
    state: string;
    created: boolean;
    triggers: { rule: string; outcome: string; workflowId?: string; message?: string }[];
  };
}

describe('workflow trigger rules', () => {
  test('an arriving file creates and starts a workflow whose jobs all get P3S_INPUT_FILE', async () => {
    const r = await register('/data/incoming/run5141.txt');
    assert.equal(r.state, 'triggered');
    const t = r.triggers.find((x) => x.rule === 'wf-onefilter')!;
    assert.equal(t.outcome, 'workflow');
    const wf = (await s.call('GET', `/workflows/${t.workflowId}`)).body;
    assert.equal(wf.name, 'onefilter:run5141.txt');
    assert.equal(wf.rule, 'wf-onefilter');
    assert.equal(wf.inputFile, '/data/incoming/run5141.txt');
    assert.equal(wf.state, 'defined');
    assert.deepEqual(
      Object.fromEntries(wf.jobs.map((j: { vertex: string; state: string }) => [j.vertex, j.state])),
      { NOOP1: 'finished', filter: 'defined', NOOP2: 'template' },
    );
    assert.deepEqual(
      wf.files.map((f: { path: string }) => f.path),
      ['/data/p3s/rule:onefilter:NOOP1:INPTXT.txt', '/data/p3s/rule:onefilter:filter:OUTTXT.txt'],
      "the rule's fileinfo names the files",
    );
    for (const j of wf.jobs) {
      const job = (await s.call('GET', `/jobs/${j.id}`)).body;
      assert.equal(job.env.P3S_INPUT_FILE, '/data/incoming/run5141.txt', j.vertex);
      assert.equal(job.rule, 'wf-onefilter');
    }
    const filter = (await s.call('GET', `/jobs/${wf.jobs[1].id}`)).body;
    assert.equal(filter.env.LEVEL, '2', "the rule's jobinfo applies");
    assert.equal(filter.env.INPTXT, '/data/p3s/rule:onefilter:NOOP1:INPTXT.txt', 'edges are still wired');
    assert.equal(filter.inputFile, '/data/incoming/run5141.txt');
  });

  test('the same file announced again creates no second workflow', async () => {
    const before = (await s.call('GET', '/workflows?dag=onefilter')).body.workflows.length;
    const r = await register('/data/incoming/run5141.txt');
    assert.equal(r.created, false);
    assert.equal((await s.call('GET', '/workflows?dag=onefilter')).body.workflows.length, before);
  });

  test('a rule naming a DAG that does not exist records an error for the file and creates nothing', async () => {
    const rule = {
      name: 'wf-missing',
      match: { pattern: 'lost*.txt' },
      action: { workflow: { dag: 'nosuchdag' } },
    };
    assert.equal((await s.call('POST', '/rules', { body: rule })).status, 201);
    const r = await register('/data/incoming/lost1.txt');
    const t = r.triggers.find((x) => x.rule === 'wf-missing')!;
    assert.equal(t.outcome, 'error');
    assert.match(t.message!, /DAG nosuchdag not found/);
    assert.equal(r.state, 'failed');
  });
});
