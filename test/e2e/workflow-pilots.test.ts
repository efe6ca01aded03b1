import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { type PilotProcess, runCli, startPilot } from '../helpers/pilots.ts';
import { startTestStack, type TestStack, waitFor } from '../helpers/stack.ts';

/**
 * Workflows on real pilots (issue 6): GraphML in the original style, SHELL payloads that use the
 * edges' datatag variables, files in temporary directories, the `p3s dag` / `p3s workflow` CLI.
 */
let s: TestStack;
let pilots: PilotProcess[] = [];
const joblog = mkdtempSync(join(tmpdir(), 'p3s-e2e-wf-joblog-'));
const fixtures = join(import.meta.dirname, '..', 'fixtures');

before(async () => {
  s = await startTestStack({
    P3S_HEARTBEAT_TIMEOUT: '5',
    P3S_REAPER_INTERVAL: '0.5',
    P3S_DISPATCH_GRACE: '10',
  });
  assert.equal((await s.call('POST', '/datatypes', { body: { name: 'TXT', ext: '.txt' } })).status, 200);
});
after(async () => {
  await Promise.all(pilots.map((p) => p.stop('SIGKILL')));
  await s.close();
});
afterEach(async () => {
  await Promise.all(pilots.map((p) => p.stop('SIGTERM')));
  pilots = [];
});

function startPilots(n: number): void {
  for (let i = 0; i < n; i++) pilots.push(startPilot(s.url, s.pilotToken, [], {}, joblog));
}

async function cli(args: string[]): Promise<any> {
  const r = await runCli(s.url, s.adminToken, [...args, '--json']);
  assert.equal(r.code, 0, `p3s ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** A fixture with `@DIR@` replaced by `dir`, written next to it in `dir`. */
function placed(fixture: string, dir: string): string {
  const out = join(dir, fixture.replace(/^.*\//, ''));
  writeFileSync(out, readFileSync(join(fixtures, fixture), 'utf8').replaceAll('@DIR@', dir));
  return out;
}

interface Detail {
  id: string;
  state: string;
  jobs: { vertex: string; id: string; state: string; exitCode?: number; inputs: Edge[]; outputs: Edge[] }[];
  files: { source: string; target: string; datatag: string; path: string; id: string }[];
}
interface Edge {
  id: string;
  peer: string;
  datatag: string;
  path: string;
}

/** Waits (with a deadline) until `p3s workflow show ID --json` says the workflow is in `state`. */
async function settled(id: string, state: string): Promise<Detail> {
  return waitFor(
    async () => {
      const d = (await s.call('GET', `/workflows/${id}`)).body as Detail;
      if (d.state !== state) return undefined;
      // Every job has ended (a failed workflow may still have independent jobs running).
      if (d.jobs.some((j) => !['finished', 'failed', 'cancelled', 'killed'].includes(j.state)))
        return undefined;
      return (await cli(['workflow', 'show', id])) as Detail;
    },
    { timeoutMs: 90_000, intervalMs: 200, what: `workflow ${id} ${state}` },
  );
}

const stateOf = (d: Detail) => Object.fromEntries(d.jobs.map((j) => [j.vertex, j.state]));
const out = (jobId: string) => readFileSync(join(joblog, `${jobId}.out`), 'utf8');

describe('workflows on real pilots', () => {
  test('fan-out/fan-in: one input, three grep -c filters, a noop sink: right counts in the right files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'p3s-wf-3filters-'));
    writeFileSync(join(dir, 'input.txt'), 'TEST1 a\nTEST2 b\nTEST1 c\nTEST3 d\nTEST1 e\nTEST3 f\nnothing\n');
    // The original per-edge JSON fileinfo (inputs/3filters/fileinfo_3filters_mod.json), in our dir.
    const fileinfo: Record<string, { name: string; dirpath: string }> = {};
    for (const k of [1, 2, 3]) {
      fileinfo[`NOOP1:filter${k}`] = { name: 'input.txt', dirpath: dir };
      fileinfo[`filter${k}:NOOP2`] = { name: `count${k}.txt`, dirpath: dir };
    }
    writeFileSync(join(dir, 'fileinfo_3filters.json'), JSON.stringify(fileinfo));
    const dag = await cli(['dag', 'add', join(fixtures, 'dags', '3filters', '3filters.graphml')]);
    assert.equal(dag.name, '3filters', 'the name defaults to the file name, as in the original');
    startPilots(3);
    const created = await cli([
      'workflow',
      'create',
      '3filters',
      '-s',
      'defined',
      '-f',
      join(dir, 'fileinfo_3filters.json'),
    ]);
    // Pilots are already polling: a filter may be running by the time the answer is made.
    assert.match(created.state, /^(defined|running)$/);
    const done = await settled(created.id, 'finished');
    assert.deepEqual(
      [1, 2, 3].map((k) => readFileSync(join(dir, `count${k}.txt`), 'utf8').trim()),
      ['3', '1', '2'],
    );
    assert.ok(done.jobs.every((j) => j.state === 'finished'));
    // `workflow show --json` lists each job with its state and the files on its edges.
    const f2 = done.jobs.find((j) => j.vertex === 'filter2')!;
    assert.deepEqual(f2.inputs, [
      { id: f2.inputs[0]!.id, peer: 'NOOP1', datatag: 'INPTXT', path: join(dir, 'input.txt') },
    ]);
    assert.deepEqual(
      f2.outputs.map((e) => [e.peer, e.datatag, e.path]),
      [['NOOP2', 'OUTTXT2', join(dir, 'count2.txt')]],
    );
    const sink = done.jobs.find((j) => j.vertex === 'NOOP2')!;
    assert.deepEqual(
      sink.inputs.map((e) => e.path),
      [1, 2, 3].map((k) => join(dir, `count${k}.txt`)),
    );
  });

  test('a two-step chain passes a file from job 1 to job 2 (default <uuid>.txt names)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'p3s-wf-chain-'));
    const fileinfo = JSON.stringify({
      'NOOP1:reduction': { dirpath: dir },
      'reduction:reco': { dirpath: dir },
      'reco:NOOP2': { dirpath: dir },
    });
    await cli(['dag', 'add', join(fixtures, 'dags', 'chain', 'twostep.graphml')]);
    const t = (await cli(['workflow', 'create', 'twostep', '-f', fileinfo])) as Detail;
    assert.equal(t.state, 'template');
    // The input's name is made at creation: write it, then start the workflow.
    const input = t.files.find((f) => f.source === 'NOOP1')!;
    assert.equal(input.path, join(dir, `${input.id}.txt`));
    writeFileSync(input.path, 'TEST one\nskip\nTEST two\n');
    startPilots(1);
    const defined = await cli(['workflow', 'define', t.id]);
    assert.match(defined.state, /^(defined|running)$/);
    const done = await settled(t.id, 'finished');
    const handed = done.files.find((f) => f.source === 'reduction')!;
    const final = done.files.find((f) => f.source === 'reco')!;
    assert.equal(readFileSync(handed.path, 'utf8'), 'TEST one\nTEST two\n');
    assert.equal(readFileSync(final.path, 'utf8').trim(), '2');
    const [reduction, reco] = await Promise.all(
      ['reduction', 'reco'].map(
        async (v) => (await s.call('GET', `/jobs/${done.jobs.find((j) => j.vertex === v)!.id}`)).body,
      ),
    );
    assert.equal(reduction.env.OUTTXT, handed.path);
    assert.equal(reco.env.OUTTXT, handed.path, 'both ends see the file under its datatag');
    assert.ok(reduction.endedAt <= reco.definedAt, 'job 2 was released only after job 1 ended');
  });

  test('a failing middle job cancels its descendants and fails the workflow', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'p3s-wf-failmid-'));
    await cli(['dag', 'add', placed('workflows/failmid.graphml', dir)]);
    startPilots(1);
    const created = await cli(['workflow', 'create', 'failmid', '-s', 'defined', '-f', 'sticky']);
    const done = await settled(created.id, 'failed');
    assert.deepEqual(stateOf(done), {
      NOOP1: 'finished',
      first: 'finished',
      middle: 'failed',
      last: 'cancelled',
      NOOP2: 'cancelled',
    });
    assert.equal(done.jobs.find((j) => j.vertex === 'middle')!.exitCode, 3);
    const last = (await s.call('GET', `/jobs/${done.jobs.find((j) => j.vertex === 'last')!.id}`)).body;
    assert.equal(last.pilotId, undefined, 'the cancelled job never reached a pilot');
    assert.equal(last.message, 'cancelled: upstream job middle ended failed');
    assert.equal(readFileSync(join(dir, 'two.txt'), 'utf8'), 'one\n');
    assert.equal(existsSync(join(dir, 'three.txt')), false);
    const listed = await cli(['workflow', 'list', '--state', 'failed']);
    assert.ok(listed.workflows.some((w: { id: string }) => w.id === created.id));
  });

  test('the original fileinfo forms name the files as documented (default, sticky, inherit:X, JSON per edge)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'p3s-wf-names-'));
    const other = mkdtempSync(join(tmpdir(), 'p3s-wf-names-json-'));
    await cli(['dag', 'add', placed('workflows/handoff.graphml', dir)]);
    startPilots(2);
    const forms: [string, string[]][] = [
      ['', []],
      ['sticky', ['-f', 'sticky']],
      ['inherit', ['-f', 'inherit:run5141']],
      ['json', ['-f', JSON.stringify({ 'src:dst': { name: 'passed.txt', dirpath: other } })]],
    ];
    const ids = new Map<string, string>();
    for (const [form, args] of forms) {
      const w = await cli([
        'workflow',
        'create',
        'handoff',
        '-s',
        'defined',
        '-n',
        `names-${form || 'default'}`,
        ...args,
      ]);
      ids.set(form, w.id);
    }
    for (const [form] of forms) {
      const d = await settled(ids.get(form)!, 'finished');
      const edge = (source: string) => d.files.find((f) => f.source === source)!;
      const expected: Record<string, [string, string]> = {
        '': [join(dir, `${edge('src').id}.txt`), join(dir, `${edge('dst').id}.txt`)],
        sticky: [join(dir, 'out.txt'), join(dir, 'fin.txt')],
        inherit: [join(dir, 'run5141:handoff:src:OUTTXT.txt'), join(dir, 'run5141:handoff:dst:FINTXT.txt')],
        json: [join(other, 'passed.txt'), join(dir, `${edge('dst').id}.txt`)],
      };
      const [outtxt, fintxt] = expected[form]!;
      assert.deepEqual([edge('src').path, edge('dst').path], [outtxt, fintxt], form);
      // What the jobs received, from their own output.
      const src = d.jobs.find((j) => j.vertex === 'src')!;
      const dst = d.jobs.find((j) => j.vertex === 'dst')!;
      assert.equal(out(src.id).trim(), `OUTTXT=${outtxt}`, `${form}: src's env`);
      assert.equal(out(dst.id).trim(), `OUTTXT=${outtxt}\nFINTXT=${fintxt}`, `${form}: dst's env`);
      assert.equal(readFileSync(fintxt, 'utf8'), 'handoff\n', `${form}: the file went through`);
    }
  });
});
