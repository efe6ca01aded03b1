/**
 * What one dashboard refresh costs the server (issue 7): the live JSON and the dashboard HTML,
 * timed with 1,000 and then 10,000 jobs in the tables, with the DynamoDB requests and read units
 * they make (counted on the shared client, per function). The dashboard reads counters and
 * per-minute aggregates only, so its cost should not grow with the jobs table.
 *
 * Usage: node --import tsx scripts/bench/monitor-cost.ts [--jobs 10000] [--refreshes 200] [--json]
 * Starts its own DynamoDB Local (in memory) and the local stack in this process.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startDynamoLocal } from '../../localstack/runtime/dynamodb-local.ts';
import { startStack } from '../../localstack/stack.ts';
import { JobSubmission } from '../../shared/core/job/job.ts';
import { createJobs } from '../../shared/db/jobs.ts';
import { countDynamo } from '../../test/helpers/dynamo-counter.ts';

const { values: opt } = parseArgs({
  options: {
    jobs: { type: 'string', default: '10000' },
    refreshes: { type: 'string', default: '200' },
    json: { type: 'boolean', default: false },
  },
});
const TOTAL = Number(opt.jobs);
const N = Number(opt.refreshes);
const TYPES = 20;
const RUN = 100;
const say = (s: string) => {
  if (!opt.json) process.stderr.write(`${s}\n`);
};

const ddb = await startDynamoLocal({ heapMb: 1024 });
const stack = await startStack({
  home: mkdtempSync(join(tmpdir(), 'p3s-monitor-cost-')),
  dynamoEndpoint: ddb.endpoint,
  tablePrefix: `mc${randomBytes(3).toString('hex')}`,
  bootstrapTokens: true,
  env: { P3S_LOG_LEVEL: 'error', P3S_HEARTBEAT_TIMEOUT: '3600' },
  log: () => {},
});
const counter = countDynamo(stack.tablePrefix);

async function call(method: string, path: string, body?: unknown, token = stack.tokens.admin!, extra = {}) {
  const res = await fetch(`${stack.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...extra },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 200)}`);
  return { text, json: () => JSON.parse(text) };
}

let submitted = 0;
/**
 * Creates jobs up to `n` in total through the jobs repository (500 a call; the API's POST /jobs
 * does the same writes, but a loaded machine can push a big submit past its 10 s timeout),
 * spread over job types and users; all held, so nothing runs them.
 */
async function fill(n: number) {
  while (submitted < n) {
    const k = Math.min(500, n - submitted);
    const subs = Array.from({ length: k }, (_, i) =>
      JobSubmission.parse({
        name: `bench-${submitted + i}`,
        jobtype: `type${(submitted + i) % TYPES}`,
        payload: '/bin/true',
        user: `user${(submitted + i) % 7}`,
        state: 'held',
      }),
    );
    await createJobs(subs);
    submitted += k;
  }
}

/** Runs jobs through simulated pilots, so the latency and throughput aggregates have data. */
async function runSome(n: number) {
  for (let i = 0; i < n; i += 20) {
    const k = Math.min(20, n - i);
    const jobs = Array.from({ length: k }, (_, j) => ({
      name: `run-${i + j}`,
      jobtype: `type${(i + j) % TYPES}`,
    }));
    await call('POST', '/jobs', jobs);
    submitted += k;
  }
  const pilots = Array.from({ length: 10 }, () => ({
    id: randomUUID(),
    key: randomBytes(24).toString('base64url'),
  }));
  for (const p of pilots)
    await call('POST', '/pilots', { id: p.id, key: p.key, host: 'bench', pid: 1 }, stack.tokens.pilot);
  let done = 0;
  await Promise.all(
    pilots.map(async (p) => {
      const h = { 'x-p3s-pilot-key': p.key };
      for (;;) {
        const r = (await call('POST', `/pilots/${p.id}/poll`, { wait: 0 }, stack.tokens.pilot, h)).json();
        if (!r.job) return;
        await call(
          'POST',
          `/pilots/${p.id}/report`,
          { event: 'jobstart', jobId: r.job.id },
          stack.tokens.pilot,
          h,
        );
        await call(
          'POST',
          `/pilots/${p.id}/report`,
          { event: 'jobstop', jobId: r.job.id, exitCode: done++ % 10 ? 0 : 1 },
          stack.tokens.pilot,
          h,
        );
      }
    }),
  );
}

async function countedJobs(): Promise<number> {
  const s = (await call('GET', '/summary')).json();
  return Object.values(s.jobs as Record<string, number>).reduce((a, b) => a + b, 0);
}

async function waitCounted(n: number) {
  const until = Date.now() + 120_000;
  while ((await countedJobs()) < n) {
    if (Date.now() > until) throw new Error(`counters did not reach ${n} jobs`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? Number.NaN;
};
const r1 = (x: number) => Math.round(x * 10) / 10;

async function measure(label: string) {
  const viewer = (await call('POST', '/tokens', { role: 'viewer', name: `bench ${label}` })).json()
    .token as string;
  // Warm-up (module load, token cache).
  await call('GET', '/monitor/live.json', undefined, viewer);
  await call('GET', '/', undefined, viewer);
  counter.reset();
  const live: number[] = [];
  const page: number[] = [];
  const both: number[] = [];
  let trend = '';
  let bytes = 0;
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    const r = await call(
      'GET',
      `/monitor/live.json${trend ? `?trend=${encodeURIComponent(trend)}` : ''}`,
      undefined,
      viewer,
    );
    const t1 = performance.now();
    const h = await call('GET', '/', undefined, viewer);
    const t2 = performance.now();
    trend = r.json().trend;
    bytes += r.text.length + h.text.length;
    live.push(t1 - t0);
    page.push(t2 - t1);
    both.push(t2 - t0);
  }
  const cpu = process.cpuUsage(cpu0);
  const tallies = counter.tally().filter((t) => t.fn === 'monitorLive' || t.fn === 'monitorDashboard');
  const requests = tallies.reduce((a, t) => a + t.requests, 0) / N;
  const rru = tallies.reduce((a, t) => a + t.billedReadUnits, 0) / N;
  const jobsTableRequests = tallies.filter((t) => t.table === 'jobs').reduce((a, t) => a + t.requests, 0);
  return {
    label,
    loadAverage: loadavg().map((x) => r1(x)),
    jobs: await countedJobs(),
    refreshes: N,
    liveJsonMs: { p50: r1(pct(live, 50)), p95: r1(pct(live, 95)) },
    dashboardHtmlMs: { p50: r1(pct(page, 50)), p95: r1(pct(page, 95)) },
    refreshMs: { p50: r1(pct(both, 50)), p95: r1(pct(both, 95)) },
    cpuMsPerRefresh: r1((cpu.user + cpu.system) / 1000 / N),
    dynamoRequestsPerRefresh: r1(requests),
    readUnitsPerRefresh: r1(rru),
    jobsTableRequests,
    kbPerRefresh: r1(bytes / 1024 / N),
    calls: [...new Set(tallies.map((t) => `${t.fn}: ${t.command} ${t.table} ×${r1(t.requests / N)}`))].sort(),
  };
}

const results = [];
try {
  say(`loading ${RUN} run jobs and ${Math.min(1000, TOTAL)} queued jobs…`);
  await runSome(RUN);
  await fill(Math.min(1000, TOTAL));
  await waitCounted(submitted);
  say(`measuring ${N} refreshes with ${submitted} jobs…`);
  results.push(await measure('1k'));
  say(`loading up to ${TOTAL} jobs…`);
  await fill(TOTAL);
  await waitCounted(submitted);
  say(`measuring ${N} refreshes with ${submitted} jobs…`);
  results.push(await measure('10k'));
} finally {
  await stack.stop();
  await ddb.stop();
}
if (opt.json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
else
  for (const r of results) {
    process.stdout.write(
      [
        `${r.jobs} jobs in the tables, ${r.refreshes} refreshes (live.json + dashboard HTML, sequential; load average ${r.loadAverage.join(' ')}):`,
        `  live.json        p50 ${r.liveJsonMs.p50} ms   p95 ${r.liveJsonMs.p95} ms`,
        `  dashboard HTML   p50 ${r.dashboardHtmlMs.p50} ms   p95 ${r.dashboardHtmlMs.p95} ms`,
        `  one refresh      p50 ${r.refreshMs.p50} ms   p95 ${r.refreshMs.p95} ms   (${r.kbPerRefresh} KiB)`,
        `  node CPU per refresh (stack + client) ${r.cpuMsPerRefresh} ms`,
        `  DynamoDB per refresh: ${r.dynamoRequestsPerRefresh} requests, ${r.readUnitsPerRefresh} read units; jobs-table requests: ${r.jobsTableRequests}`,
        ...r.calls.map((c) => `    ${c}`),
        '',
      ].join('\n'),
    );
  }
process.exit(0);
