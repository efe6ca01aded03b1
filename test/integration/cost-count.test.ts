/**
 * Counts the DynamoDB requests and capacity units of one dispatched job and of an idle pilot's
 * poll, from the code's real calls on the local stack (test/helpers/dynamo-counter.ts), per
 * function. docs/cost-model.md is computed from these numbers; the budgets below fail the test
 * when a change makes the hot path dearer, so the document has to be revisited. Polls behave as
 * on Lambda here: no in-process wake-ups, a held poll re-reads its pilot every
 * P3S_LONGPOLL_CHECK_MS. The counts go to test-output/cost-count.json.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  CreateTableCommand,
  DeleteItemCommand,
  DynamoDBClient,
  PutItemCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { loadServerless, repoRoot } from '../../localstack/runtime/serverless-config.ts';
import { dropTables, tableSpecs } from '../../localstack/runtime/tables.ts';
import { startStack } from '../../localstack/stack.ts';
import { installWakeups } from '../../shared/wakeups.ts';
import { countDynamo, type DynamoCounter } from '../helpers/dynamo-counter.ts';
import { SimPilot } from '../helpers/pilot-sim.ts';
import { type TestStack, waitFor } from '../helpers/stack.ts';

const CHECK_MS = 250;
// A non-empty env: the DynamoDB Streams client (3.1141) turns an empty map in a stream image
// into `{}`, which unmarshall rejects, so the local stream functions would fail on `env: {}`.
const JOB = { jobtype: 'cost', payload: 'true', env: { RUN: '1' } };
let s: TestStack;
let counter: DynamoCounter;
const results: Record<string, Summary> = {};

interface Summary {
  requests: number;
  readUnits: number;
  writeUnits: number;
  byFunction: Record<string, { requests: number; readUnits: number; writeUnits: number; calls: string[] }>;
}

const READS = new Set(['GetItem', 'Query', 'Scan', 'BatchGetItem', 'TransactGetItems']);

/** What the test itself calls to watch progress: not part of any cost. */
const PROBES = ['summary', 'pilotsGet', '-'];

function summarise(c: DynamoCounter, skip: string[] = PROBES): Summary {
  const out: Summary = { requests: 0, readUnits: 0, writeUnits: 0, byFunction: {} };
  const entry = (fn: string) =>
    (out.byFunction[fn] ??= { requests: 0, readUnits: 0, writeUnits: 0, calls: [] });
  for (const k of c.calls()) {
    if (skip.includes(k.fn)) continue;
    entry(k.fn).requests += k.count;
    out.requests += k.count;
  }
  for (const t of c.tally()) {
    if (skip.includes(t.fn)) continue;
    const f = entry(t.fn);
    const units = t.units.total;
    const read = READS.has(t.command);
    if (read) {
      f.readUnits += t.billedReadUnits;
      out.readUnits += t.billedReadUnits;
    } else {
      f.writeUnits += units;
      out.writeUnits += units;
    }
    const ix = Object.entries(t.units.indexes)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${k} ${n}`);
    f.calls.push(
      `${t.command} ${t.table} ×${t.requests} (${read ? t.billedReadUnits : t.units.table}${ix.length ? ` + GSI ${ix.join(', ')}` : ''} ${read ? 'RRU' : 'WRU'})`,
    );
  }
  return out;
}

/** Requests a function made so far (to wait for stream consumers to finish a phase). */
const requestsOf = (fn: string) =>
  counter
    .calls()
    .filter((c) => c.fn === fn)
    .reduce((n, c) => n + c.count, 0);

async function counts(): Promise<Record<string, number>> {
  const r = await s.call('GET', '/summary');
  return {
    ...r.body.jobs,
    ...Object.fromEntries(Object.entries(r.body.pilots).map(([k, v]) => [`pilot:${k}`, v])),
  };
}

/** No DynamoDB request for this long: the stream functions have finished reacting. */
const QUIET_MS = 300;

/**
 * Runs `act`, then waits until its effects are visible (`settled`) and DynamoDB has been quiet
 * for QUIET_MS (the local stack delivers stream records within milliseconds of a write), so
 * stream work is counted in the phase that caused it; returns what the phase cost.
 */
async function phase(
  name: string,
  act: () => Promise<void>,
  settled: () => Promise<boolean>,
): Promise<Summary> {
  counter.reset();
  await act();
  await waitFor(async () => (await settled()) && Date.now() - counter.lastCallAt >= QUIET_MS, {
    what: `${name} settled`,
    timeoutMs: 15_000,
  });
  const sum = summarise(counter);
  results[name] = sum;
  return sum;
}

/**
 * DynamoDB Local (3.3) quirk: a table's stream whose shard is still empty when another
 * stream-enabled table is created answers every later GetRecords with TrimmedDataAccessException,
 * so the local stack would deliver nothing on it. Creating the tables one by one, each with one
 * record written (and deleted) before the next, keeps every stream readable. The readers start
 * at LATEST, so these records are never delivered.
 */
async function createTablesWithReadableStreams(endpoint: string, prefix: string): Promise<void> {
  const c = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'p3slocal', secretAccessKey: 'p3slocal' },
  });
  for (const spec of tableSpecs(loadServerless('local'), prefix)) {
    const { input } = spec;
    await c.send(new CreateTableCommand(input));
    if (spec.ttl)
      await c.send(
        new UpdateTimeToLiveCommand({
          TableName: input.TableName,
          TimeToLiveSpecification: { AttributeName: spec.ttl, Enabled: true },
        }),
      );
    if (!input.StreamSpecification) continue;
    const types = new Map(input.AttributeDefinitions!.map((a) => [a.AttributeName!, a.AttributeType!]));
    const key = Object.fromEntries(
      input.KeySchema!.map((k) => [
        k.AttributeName!,
        types.get(k.AttributeName!) === 'N' ? { N: '0' } : { S: '-' },
      ]),
    );
    await c.send(new PutItemCommand({ TableName: input.TableName, Item: key as never }));
    await c.send(new DeleteItemCommand({ TableName: input.TableName, Key: key as never }));
  }
  c.destroy();
}

/** Like startTestStack, on tables made by createTablesWithReadableStreams. */
async function startCountingStack(env: Record<string, string>): Promise<TestStack> {
  const endpoint = process.env.P3S_TEST_DYNAMODB_ENDPOINT;
  if (!endpoint) throw new Error('P3S_TEST_DYNAMODB_ENDPOINT is not set: run tests with `npm test`');
  const tablePrefix = `t${randomBytes(4).toString('hex')}`;
  await createTablesWithReadableStreams(endpoint, tablePrefix);
  const home = mkdtempSync(join(tmpdir(), 'p3s-test-'));
  const stack = await startStack({
    home,
    dynamoEndpoint: endpoint,
    tablePrefix,
    bootstrapTokens: true,
    env: { P3S_LOG_LEVEL: process.env.P3S_LOG_LEVEL ?? 'error', ...env },
    log: () => {},
  });
  const adminToken = stack.tokens.admin!;
  const call: TestStack['call'] = async (method, path, opts = {}) => {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    const token = opts.token === undefined ? adminToken : opts.token;
    if (token) headers.authorization = `Bearer ${token}`;
    const body = opts.body === undefined ? opts.raw : JSON.stringify(opts.body);
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${stack.url}${path}`, { method, headers, body });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {}
    return { status: res.status, body: parsed, headers: res.headers };
  };
  return {
    ...stack,
    home,
    adminToken,
    pilotToken: stack.tokens.pilot!,
    call,
    async close() {
      await stack.stop();
      const c = new DynamoDBClient({
        endpoint,
        region: 'us-east-1',
        credentials: { accessKeyId: 'p3slocal', secretAccessKey: 'p3slocal' },
      });
      await dropTables(c, tablePrefix);
      c.destroy();
    },
  };
}

before(async () => {
  s = await startCountingStack({ P3S_REAPER_INTERVAL: '3600', P3S_LONGPOLL_CHECK_MS: String(CHECK_MS) });
  // Lambda behaviour: nothing can wake a held poll, it re-reads its pilot item.
  installWakeups({
    inProcess: false,
    notify() {},
    wait: (_key, ms) => new Promise((resolve) => setTimeout(() => resolve(false), ms)),
  });
  counter = countDynamo(s.tablePrefix);
  counter.quietIgnores = new Set(PROBES);
});

after(async () => {
  mkdirSync(join(repoRoot, 'test-output'), { recursive: true });
  writeFileSync(join(repoRoot, 'test-output', 'cost-count.json'), `${JSON.stringify(results, null, 2)}\n`);
  await s.close();
});

describe('DynamoDB requests per dispatched job and per idle poll', () => {
  test('a job claimed by a polling pilot (fast path), from submit to jobstop', async (t) => {
    const p = new SimPilot(s);
    assert.equal((await p.register()).status, 201);
    const base = await counts();
    let jobId = '';
    const submit = await phase(
      'submit',
      async () => {
        const r = await s.call('POST', '/jobs', { body: [JOB] });
        assert.equal(r.status, 201);
        jobId = r.body[0].id;
      },
      async () => (await counts()).defined === (base.defined ?? 0) + 1 && requestsOf('matchmaker') > 0,
    );
    const dispatch = await phase(
      'dispatch (fast path)',
      async () => {
        const r = await p.poll(0);
        assert.equal(r.body.state, 'dispatched');
        assert.equal(r.body.job.id, jobId);
      },
      async () => (await counts()).dispatched === (base.dispatched ?? 0) + 1,
    );
    const start = await phase(
      'jobstart',
      async () => assert.equal((await p.report({ event: 'jobstart', jobId, pid: 1 })).status, 200),
      async () => (await counts()).running === (base.running ?? 0) + 1,
    );
    const beat = await phase(
      'heartbeat',
      async () => assert.equal((await p.report({ event: 'heartbeat', jobId })).status, 200),
      async () => true,
    );
    const stop = await phase(
      'jobstop',
      async () => assert.equal((await p.report({ event: 'jobstop', jobId, exitCode: 0 })).status, 200),
      async () => (await counts()).finished === (base.finished ?? 0) + 1 && requestsOf('matchmaker') > 0,
    );
    for (const [name, sum] of Object.entries({ submit, dispatch, start, beat, stop }))
      t.diagnostic(`${name}: ${JSON.stringify(sum)}`);

    const job = [submit, dispatch, start, stop];
    const total = (k: 'requests' | 'readUnits' | 'writeUnits') => job.reduce((n, x) => n + x[k], 0);
    // Budgets (docs/cost-model.md): fail when the hot path gets dearer.
    assert.ok(total('requests') <= 36, `requests per job ${total('requests')}`);
    assert.ok(total('writeUnits') <= 72, `write units per job ${total('writeUnits')}`);
    assert.ok(total('readUnits') <= 6, `read units per job ${total('readUnits')}`);
    assert.ok(beat.requests <= 2 && beat.writeUnits <= 2, `heartbeat ${JSON.stringify(beat)}`);
    assert.deepEqual(Object.keys(beat.byFunction), ['pilotsReport'], 'a heartbeat wakes no stream function');
  });

  test('a job handed by the matchmaker to a pilot waiting in a long poll', async (t) => {
    const p = new SimPilot(s);
    assert.equal((await p.register()).status, 201);
    let jobId = '';
    const sum = await phase(
      'dispatch (matchmaker, held poll)',
      async () => {
        const poll = p.poll(10);
        await waitFor(async () => (await s.call('GET', `/pilots/${p.id}`)).body.state === 'waiting', {
          what: 'pilot waiting',
        });
        const r = await s.call('POST', '/jobs', { body: [JOB] });
        jobId = r.body[0].id;
        const answer = await poll;
        assert.equal(answer.body.state, 'dispatched');
        assert.equal(answer.body.job.id, jobId);
      },
      async () => requestsOf('jobEvents') > 0 && requestsOf('matchmaker') > 0,
    );
    t.diagnostic(JSON.stringify(sum));
    assert.ok(sum.byFunction.matchmaker, 'the matchmaker made the claim');
    await p.report({ event: 'jobstart', jobId, pid: 1 });
    await p.report({ event: 'jobstop', jobId, exitCode: 0 });
  });

  test('an idle pilot: one empty poll, answered at once and held (re-reads every P3S_LONGPOLL_CHECK_MS)', async (t) => {
    const p = new SimPilot(s);
    assert.equal((await p.register()).status, 201);
    // The first empty poll makes the pilot idle (a state change the stream functions see); the
    // next ones are the steady state of an idle pilot.
    await phase(
      'first idle poll',
      async () => assert.equal((await p.poll(0)).body.state, 'no jobs'),
      async () => requestsOf('matchmaker') > 0 && requestsOf('jobEvents') > 0,
    );
    const quick = await phase(
      'idle poll, wait 0',
      async () => assert.equal((await p.poll(0)).body.state, 'no jobs'),
      async () => true,
    );
    const holdSec = 2;
    const held = await phase(
      `idle poll, wait ${holdSec}`,
      async () => assert.equal((await p.poll(holdSec)).body.state, 'no jobs'),
      async () => true,
    );
    t.diagnostic(`wait 0: ${JSON.stringify(quick)}`);
    t.diagnostic(`wait ${holdSec}: ${JSON.stringify(held)}`);
    const rereads = held.requests - quick.requests;
    assert.ok(
      Math.abs(rereads - (holdSec * 1000) / CHECK_MS) <= 2,
      `a held poll re-reads its pilot every ${CHECK_MS} ms (${rereads} extra reads in ${holdSec} s)`,
    );
    assert.equal(quick.writeUnits, held.writeUnits, 'holding a poll writes nothing more');
    assert.deepEqual(Object.keys(quick.byFunction), ['pilotsPoll'], 'an idle poll wakes no stream function');
  });

  test('every call is allowed by the calling function’s `iam:` in serverless.yml', () => {
    assert.deepEqual(counter.iamViolations(), []);
    const fns = new Set([...counter.uses.values()].map((u) => u.fn));
    for (const fn of ['jobsSubmit', 'pilotsPoll', 'pilotsReport', 'matchmaker', 'jobEvents'])
      assert.ok(fns.has(fn), `calls of ${fn} were attributed to it`);
  });
});
