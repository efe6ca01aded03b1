/**
 * The whole stack (node, and with it Java) killed with -9 between the two steps of a workflow,
 * then started again on the same P3S_HOME: the workflow finishes, its second job ran exactly
 * once, and the counters equal what the tables hold (stream checkpoints, docs/local-stack.md).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { startDynamoLocal } from '../../localstack/runtime/dynamodb-local.ts';
import { type StackProcess, startStackProcess } from '../../scripts/bench/stack-process.ts';
import { startPilot } from '../helpers/pilots.ts';
import { freePorts } from '../helpers/ports.ts';
import { running, within } from '../helpers/processes.ts';
import { waitFor } from '../helpers/stack.ts';

async function call(st: StackProcess, method: string, path: string, body?: unknown) {
  const r = await fetch(`${st.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${st.adminToken}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, body: (await r.json()) as any };
}

function tables(endpoint: string) {
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'p3slocal', secretAccessKey: 'p3slocal' },
  });
  return { doc: DynamoDBDocumentClient.from(client), close: () => client.destroy() };
}

/** Items per `state` in a table of the stack, as the counters should say (zeros left out). */
async function statesIn(doc: DynamoDBDocumentClient, entity: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  let start: Record<string, unknown> | undefined;
  do {
    const r = await doc.send(new ScanCommand({ TableName: `p3s-local-${entity}`, ExclusiveStartKey: start }));
    for (const it of r.Items ?? [])
      if (typeof it.state === 'string') out[it.state] = (out[it.state] ?? 0) + 1;
    start = r.LastEvaluatedKey;
  } while (start);
  return out;
}

const nonZero = (c: Record<string, number>) =>
  Object.fromEntries(
    Object.entries(c ?? {})
      .filter(([, n]) => n !== 0)
      .sort(),
  );

describe('the stack killed between two steps of a workflow', () => {
  test('after a restart on the same home the workflow finishes, step 2 ran once, counters = tables', async (t) => {
    const home = mkdtempSync(join(tmpdir(), 'p3s-chaos-stack-'));
    const out = mkdtempSync(join(tmpdir(), 'p3s-chaos-stack-out-'));
    // Started again on the same port: one below the ephemeral range, which no outgoing
    // connection can take while the stack is down.
    let st = await startStackProcess({ home, inMemory: false, port: await freePorts(2) });
    const pilot = startPilot(st.url, st.pilotToken);
    try {
      assert.equal((await call(st, 'POST', '/datatypes', { name: 'TXT', ext: '.txt' })).status, 200);
      const dag = {
        name: 'twosteps',
        vertices: [
          // Longer than jobEvents' 1 s batching window: its start is handled before it ends,
          // so its end opens a window of its own, and the kill below lands inside it.
          { name: 'first', jobtype: 'step1', payload: '/bin/sleep 1.5' },
          {
            name: 'second',
            jobtype: 'step2',
            payload: `echo ran >> ${join(out, 'second.log')}`,
            env: { P3S_EXECMODE: 'SHELL' },
          },
        ],
        edges: [{ source: 'first', target: 'second', datatype: 'TXT', datatag: 'HANDOFF', dirpath: out }],
      };
      assert.equal((await call(st, 'POST', '/dags', { dag })).status, 201);
      const wf = (await call(st, 'POST', '/workflows', { dag: 'twosteps', state: 'defined' })).body;
      const idOf = (v: string) => wf.jobs?.find((j: { vertex: string }) => j.vertex === v)?.id as string;
      const [first, second] = [idOf('first'), idOf('second')];
      assert.ok(first && second, JSON.stringify(wf));

      // Step 1 ends: kill at once, well within the 1 s batching window of the function that
      // advances workflows (jobEvents), so the release of step 2 is still in the stream.
      await waitFor(async () => (await call(st, 'GET', `/jobs/${first}`)).body.state === 'finished', {
        timeoutMs: 30_000,
        intervalMs: 10,
        what: 'step 1 finished',
      });
      const java = st.javaPid();
      st.child.kill('SIGKILL');
      await within(st.exited, 10_000, 'the killed stack to exit');
      // Its guard takes Java down with it (the pipe from node closed).
      await waitFor(() => !running(java), { what: 'Java gone with the stack' });

      // What the crash left: step 1 finished, step 2 not yet released (else this proves nothing).
      const ddb = await startDynamoLocal({ dataDir: join(home, 'dynamodb') });
      const left = tables(ddb.endpoint);
      try {
        const state = async (id: string) =>
          (await left.doc.send(new GetCommand({ TableName: 'p3s-local-jobs', Key: { id } }))).Item?.state;
        assert.deepEqual([await state(first), await state(second)], ['finished', 'template']);
      } finally {
        left.close();
        await ddb.stop();
      }

      st = await startStackProcess({ home, inMemory: false, port: Number(new URL(st.url).port) });
      const done = await waitFor(
        async () => {
          const w = (await call(st, 'GET', `/workflows/${wf.id}`)).body;
          return w.state === 'finished' ? w : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 100, what: 'the workflow finished after the restart' },
      );
      assert.deepEqual(
        done.jobs.map((j: { vertex: string; state: string }) => [j.vertex, j.state]),
        [
          ['first', 'finished'],
          ['second', 'finished'],
        ],
      );
      assert.equal(readFileSync(join(out, 'second.log'), 'utf8'), 'ran\n', 'step 2 ran exactly once');

      await pilot.stop();
      const now = tables(st.dynamoEndpoint);
      const truth = async () => ({
        jobs: await statesIn(now.doc, 'jobs'),
        pilots: await statesIn(now.doc, 'pilots'),
        workflows: await statesIn(now.doc, 'workflows'),
      });
      const counted = async () => {
        const s = (await call(st, 'GET', '/summary')).body;
        return { jobs: nonZero(s.jobs), pilots: nonZero(s.pilots), workflows: nonZero(s.workflows) };
      };
      let last: unknown;
      await waitFor(
        async () => {
          const [t, c] = [await truth(), await counted()];
          last = { tables: t, counters: c };
          return JSON.stringify(nonZero(t.jobs)) === JSON.stringify(c.jobs) &&
            JSON.stringify(nonZero(t.pilots)) === JSON.stringify(c.pilots) &&
            JSON.stringify(nonZero(t.workflows)) === JSON.stringify(c.workflows)
            ? true
            : undefined;
        },
        { timeoutMs: 15_000, intervalMs: 200, what: 'the counters to equal the tables' },
      ).catch((err) => assert.fail(`${err.message}: ${JSON.stringify(last)}`));
      t.diagnostic(`after the crash and restart, counters = tables: ${JSON.stringify(last)}`);
      now.close();
    } finally {
      await pilot.stop('SIGKILL');
      await st.stop();
      rmSync(home, { recursive: true, force: true });
      if (existsSync(out)) rmSync(out, { recursive: true, force: true });
    }
  });
});
