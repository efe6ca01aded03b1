/**
 * Measures the local stack's own costs (issue 2): start-up time, HTTP request overhead over a
 * direct handler call, and stream delivery delay (write → stream function invoked).
 * Usage: node --import tsx scripts/bench/runtime.ts [--requests N] [--writes N]
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { startStack } from '../../localstack/stack.ts';

// The AWS SDK's Node-version warning (see localstack/start.ts).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const { values: opt } = parseArgs({
  options: { requests: { type: 'string', default: '500' }, writes: { type: 'string', default: '200' } },
});
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]!;
const fmt = (xs: number[]) => `p50 ${pct(xs, 50).toFixed(2)} ms, p95 ${pct(xs, 95).toFixed(2)} ms`;

const t0 = performance.now();
const stack = await startStack({
  home: mkdtempSync(join(tmpdir(), 'p3s-rt-')),
  inMemory: true,
  port: 0,
  log: () => {},
});
const startup = performance.now() - t0;

// 1. HTTP overhead: GET /healthz through the server vs the same handler called directly.
const n = Number(opt.requests);
const viaHttp: number[] = [];
const direct: number[] = [];
for (let i = 0; i < n; i++) {
  let t = performance.now();
  await (await fetch(`${stack.url}/healthz`)).text();
  viaHttp.push(performance.now() - t);
  t = performance.now();
  await stack.invoke('healthz', {
    version: '2.0',
    rawPath: '/healthz',
    headers: {},
    requestContext: { requestId: 'x', http: { method: 'GET' } },
  });
  direct.push(performance.now() - t);
}

// 2. Stream delay: a write to the jobs table → the matchmaker invoked with it. The matchmaker has
// no batching window (jobEvents has 1 s, which the local stack honours as Lambda does), so this
// is the runtime's own delay. The item looks queued (qpk) to pass the matchmaker's filter; with
// no pilot registered its round ends at once.
const { db } = await import('../../shared/db/client.ts');
const { tableName } = await import('../../shared/config.ts');
const consumer = stack.streamReaders.flatMap((r) => r.consumers).find((c) => c.fn.name === 'matchmaker')!;
const delays: number[] = [];
for (let i = 0; i < Number(opt.writes); i++) {
  const before = consumer.stats.delivered;
  const t = performance.now();
  await db().send(
    new PutCommand({
      TableName: tableName('jobs'),
      Item: {
        id: randomUUID(),
        state: 'template',
        stateAt: 'x',
        createdAt: 'x',
        lpk: 'J#bench',
        qpk: 'Q#bench',
        qsk: `bench#${i}`,
      },
    }),
  );
  while (consumer.stats.delivered === before) await new Promise((r) => setImmediate(r));
  delays.push(performance.now() - t);
}
await stack.stop();

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
process.stdout.write(
  [
    `start-up (DynamoDB Local in memory + tables + handlers): ${startup.toFixed(0)} ms`,
    `GET /healthz via HTTP: ${fmt(viaHttp)}; direct handler call: ${fmt(direct)}; overhead ≈ ${(mean(viaHttp) - mean(direct)).toFixed(2)} ms/request`,
    `stream delivery (PutItem returned → matchmaker has the record): ${fmt(delays)} over ${delays.length} writes`,
  ].join('\n') + '\n',
);
process.exit(0);
