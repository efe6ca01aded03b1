/**
 * Server downtime is not the pilots' fault (issue "Nothing lost, nothing starved", scenario 3):
 * three real pilots run jobs, the whole server (API, reaper, streams) is stopped for 70 s — longer
 * than the default 60 s heartbeat timeout — and started again on the same tables and port. Before,
 * the reaper timed every pilot out within a second of the restart, the jobs ended `pilotTO` and
 * the pilots killed their payloads and exited. Now deadlines restart when the server is back.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { api, type StackProc, startStackProc, Tables } from '../helpers/chaos.ts';
import { type PilotProcess, startPilot } from '../helpers/pilots.ts';
import { freePorts } from '../helpers/ports.ts';
import { waitFor } from '../helpers/stack.ts';

const OUTAGE_MS = 70_000;

let stack: StackProc | undefined;
const pilots: PilotProcess[] = [];
let tables: Tables | undefined;
after(async () => {
  await Promise.all(pilots.map((p) => p.stop('SIGKILL')));
  await stack?.stop();
  await tables?.drop();
});

test('a 70 s server outage with jobs running (default heartbeat timeout): every job finishes, no pilot is lost', async () => {
  // Default timeouts (heartbeat 60 s): only the reaper's cadence is the local default too.
  // Started again on the same port after the outage: one below the ephemeral range, which no
  // outgoing connection can take while the server is down.
  stack = await startStackProc({ port: await freePorts(2) });
  tables = new Tables(process.env.P3S_TEST_DYNAMODB_ENDPOINT!, stack.prefix);
  const first = stack;
  for (let i = 0; i < 3; i++)
    pilots.push(startPilot(first.url, first.pilotToken, ['--wait', '20', '--beat', '2']));
  await waitFor(
    async () => (await tables!.scan('pilots')).filter((p) => p.state === 'waiting').length === 3,
    {
      timeoutMs: 30_000,
      what: 'three idle pilots',
    },
  );

  // Each payload outlives the outage and proves it ran once (one line per run in a shared file).
  const jobs = Array.from({ length: 3 }, (_, i) => ({
    name: `outage-${i}`,
    jobtype: 'outage',
    payload: `sleep ${(OUTAGE_MS + 8000) / 1000}`,
    env: { P3S_EXECMODE: 'SHELL' },
    timeout: 600,
  }));
  const sub = await api(first, 'POST', '/jobs', jobs);
  assert.equal(sub.status, 201, JSON.stringify(sub.body));
  // Running, and the payloads really started: a pilot spawns only once its jobstart is
  // acknowledged, and reports the payload's start with its first heartbeat.
  await waitFor(
    async () =>
      (await tables!.scan('jobs')).filter((j) => j.state === 'running' && j.payloadStartedAt).length === 3,
    { timeoutMs: 30_000, what: 'three payloads running' },
  );
  const pilotIds = new Set((await tables.scan('pilots')).map((p) => p.id));

  // The fault: the server is gone for 70 s (this wait is the outage itself, not a synchronisation).
  await first.stop();
  const downAt = Date.now();
  await new Promise((r) => setTimeout(r, OUTAGE_MS));
  stack = await startStackProc({ prefix: first.prefix, home: first.home, port: first.port });
  const backAt = Date.now();

  // Within a few reaper runs of the restart nothing may be timed out: the pilots had no chance.
  await waitFor(
    async () =>
      (await tables!.get('stats', { pk: 'service', sk: 'reaper' }))?.lastRunAt >
      new Date(backAt).toISOString(),
    {
      timeoutMs: 20_000,
      what: 'the reaper to run after the restart',
    },
  );
  const rows = await waitFor(
    async () => {
      const all = await tables!.scan('jobs');
      return all.every((j) => j.state === 'finished') ? all : undefined;
    },
    { timeoutMs: 60_000, what: 'every job to finish' },
  ).catch(async (err) => {
    const jobs = (await tables!.scan('jobs')).map((j) => `${j.name} ${j.state} ${j.message ?? ''}`);
    const ps = (await tables!.scan('pilots')).map((p) => `${p.id} ${p.state} seen ${p.lastSeenAt}`);
    throw new Error(
      `${err.message}\njobs: ${jobs.join('; ')}\npilots: ${ps.join('; ')}\nstack log:\n${stack!.log().slice(-3000)}\n${pilots.map((p, i) => `pilot ${i}:\n${p.output().slice(-1500)}`).join('\n')}`,
    );
  });
  assert.equal(rows.length, 3);
  for (const j of rows) {
    assert.equal(j.state, 'finished', `${j.name}: ${j.state} ${j.message ?? ''}`);
    assert.equal(j.exitCode, 0);
    assert.equal(j.requeuedAt, undefined, 'a running job is never put back');
    // It ran across the outage: started before it, ended after the restart.
    assert.ok(Date.parse(j.startedAt) < downAt && Date.parse(j.endedAt) > backAt);
  }
  const after = await tables.scan('pilots');
  assert.deepEqual(
    after.filter((p) => p.state === 'timeout').map((p) => p.id),
    [],
    'no pilot was timed out',
  );
  assert.deepEqual(new Set(after.map((p) => p.id)), pilotIds, 'no pilot had to register again');
  for (const p of pilots) assert.equal(p.child.exitCode, null, `a pilot exited:\n${p.output().slice(-2000)}`);
  assert.deepEqual(await tables.counterDrift(), {});

  // And the fleet still works: a new job runs.
  const more = await api(stack, 'POST', '/jobs', [{ name: 'after', jobtype: 'outage', payload: 'true' }]);
  const id = more.body[0].id;
  await waitFor(async () => (await tables!.get('jobs', { id }))?.state === 'finished', {
    timeoutMs: 30_000,
    what: 'a job submitted after the outage to finish',
  });
});
