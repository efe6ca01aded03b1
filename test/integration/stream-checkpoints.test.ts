/**
 * Stream delivery across stops and restarts of the local stack (localstack/runtime/streams.ts):
 * each consumer resumes from its checkpoint under P3S_HOME, a clean stop drains the streams, a
 * batch in flight at a crash comes again with the same identity, and records that cannot be
 * read any more are reported. Stacks here share one home and one table prefix, on the run's
 * DynamoDB Local, and are started one after the other in this process.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Checkpoint } from '../../localstack/runtime/checkpoints.ts';
import { dropTables } from '../../localstack/runtime/tables.ts';
import { type Stack, startStack } from '../../localstack/stack.ts';
import { counters } from '../../shared/db/stats.ts';
import { waitFor } from '../helpers/stack.ts';

const endpoint = process.env.P3S_TEST_DYNAMODB_ENDPOINT!;
const home = mkdtempSync(join(tmpdir(), 'p3s-checkpoints-'));
const prefix = `t${randomBytes(4).toString('hex')}`;
const client = new DynamoDBClient({
  endpoint,
  region: 'us-east-1',
  credentials: { accessKeyId: 'p3slocal', secretAccessKey: 'p3slocal' },
});
const doc = DynamoDBDocumentClient.from(client);
const logged: { msg: string; [k: string]: unknown }[] = [];

let running: Stack | undefined;
async function start(): Promise<Stack> {
  await stop();
  running = await startStack({
    home,
    dynamoEndpoint: endpoint,
    tablePrefix: prefix,
    bootstrapTokens: true,
    env: { P3S_LOG_LEVEL: 'error' },
    log: (msg, f) => logged.push({ msg, ...f }),
  });
  return running;
}
async function stop(): Promise<void> {
  await running?.stop();
  running = undefined;
}
after(async () => {
  await stop();
  await dropTables(client, prefix);
  client.destroy();
});

async function submit(s: Stack, jobtype: string): Promise<string> {
  const r = await fetch(`${s.url}/jobs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${s.tokens.admin}`, 'content-type': 'application/json' },
    body: JSON.stringify([{ name: `${jobtype}-job`, jobtype, payload: '/bin/true' }]),
  });
  const body = (await r.json()) as { id: string }[];
  assert.equal(r.status, 201, JSON.stringify(body));
  return body[0]!.id;
}

/** A change the stack does not see being made (an operator's script, a write while it is down). */
async function killBehindItsBack(id: string): Promise<void> {
  await doc.send(
    new UpdateCommand({
      TableName: `${prefix}-jobs`,
      Key: { id },
      UpdateExpression: 'SET #s = :k, endedAt = :now REMOVE qpk, qsk',
      ExpressionAttributeNames: { '#s': 'state' },
      ExpressionAttributeValues: { ':k': 'killed', ':now': new Date().toISOString() },
    }),
  );
}

const jobsOf = async (type: string) => (await counters())[`jobtype#${type}`] ?? {};
const checkpointFile = join(home, 'streams', 'jobEvents.jobs.json');
const checkpoint = () => JSON.parse(readFileSync(checkpointFile, 'utf8')) as Checkpoint;

describe('stream checkpoints', () => {
  test('a change made while the stack was stopped reaches the functions when it starts again', async () => {
    let s = await start();
    const id = await submit(s, 'offline');
    await waitFor(async () => (await jobsOf('offline')).defined === 1, { what: 'the job counted' });
    await stop();
    await killBehindItsBack(id);
    s = await start();
    // Resumed from the checkpoint, not from the end of the stream: the change is counted.
    await waitFor(
      async () => {
        const c = await jobsOf('offline');
        return c.defined === 0 && c.killed === 1;
      },
      { what: 'the change made while stopped counted after the restart' },
    );
    assert.ok(s.checkpointDir);
    await stop();
  });

  test('a clean stop delivers what is already in the stream', async () => {
    const s = await start();
    const id = await submit(s, 'drained');
    await waitFor(async () => (await jobsOf('drained')).defined === 1, { what: 'the job counted' });
    // Not made through the stack: nothing kicks its reader, only the idle poll (250 ms) or the stop.
    await killBehindItsBack(id);
    await stop();
    assert.deepEqual(await jobsOf('drained'), { defined: 0, killed: 1 });
    // And the checkpoint is past it: the next start has nothing of it to deliver.
    const { shards, inflight } = checkpoint();
    assert.equal(inflight, undefined);
    assert.equal(Object.keys(shards).length, 1);
  });

  test('the batch in flight at a crash comes again alone, with its identity: nothing counts twice', async () => {
    let s = await start();
    const before = checkpoint();
    await submit(s, 'replayed');
    await waitFor(async () => (await jobsOf('replayed')).defined === 1, { what: 'first job counted' });
    const first = checkpoint(); // after the first job's batch
    await submit(s, 'replayed');
    await waitFor(async () => (await jobsOf('replayed')).defined === 2, { what: 'second job counted' });
    await stop();
    // As if the stack had died after the first batch's handler ran, before its checkpoint:
    // the checkpoint from before it, with the batch marked in flight.
    writeFileSync(checkpointFile, JSON.stringify({ ...before, inflight: first.shards } satisfies Checkpoint));
    s = await start();
    await waitFor(
      () => {
        const c = checkpoint();
        return c.inflight === undefined && JSON.stringify(c.shards) !== JSON.stringify(first.shards);
      },
      { what: 'both batches delivered again' },
    );
    await stop();
    // Redelivered (at least once), counted once: the counters' idempotency token is the batch's.
    assert.deepEqual(await jobsOf('replayed'), { defined: 2 });
  });

  test('records that cannot be read any more are reported, not skipped silently', async () => {
    const cp = checkpoint();
    writeFileSync(
      checkpointFile,
      JSON.stringify({ ...cp, shards: { ...cp.shards, 'shardId-00000000000000000000-gone': '42' } }),
    );
    logged.length = 0;
    await start();
    const lost = logged.find((l) => l.msg.startsWith('stream records lost'));
    assert.ok(lost, JSON.stringify(logged));
    assert.equal(lost.shard, 'shardId-00000000000000000000-gone');
    assert.equal(lost.after, '42');
    assert.equal(lost.function, 'jobEvents');
    await stop();
    assert.equal(checkpoint().shards['shardId-00000000000000000000-gone'], undefined);
  });
});
