/**
 * `npm run bench` — the p3s performance check (docs/design.md §10). Starts its own local stack (in
 * memory, as a separate process so its CPU is measured apart) and real pilot processes with
 * no-op payloads, submits jobs and prints:
 *   dispatch latency p50/p95/p99 (job definedAt → the payload's own start timestamp),
 *   throughput (jobs/s), and the stack's CPU per job (node + java).
 *
 * Usage: npm run bench -- [--scenario idle|burst|arrival|scale|all] [--pilots P] [--jobs N] [--interval MS] [--mode long|paced] [--json]
 *   idle:    P idle pilots (default 10), N jobs (default 200) submitted one at a time, --interval apart (default 100 ms)
 *   burst:   P pilots (default 50), N no-op jobs (default 2000) submitted at once
 *   arrival: data arrival → payload start through XRootD, a watched directory and S3
 *            (scripts/bench/arrival.ts, which also runs alone with more options)
 *   scale:   P idle pilots (default 2000) and 200, each in both polling modes (long, paced):
 *            rest CPU, API latency, dispatch latency, pilot errors (scripts/bench/scale.ts);
 *            (--mode long|paced: one mode only); not part of `all` (it takes about ten minutes)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type ArrivalResult, benchArrival, formatArrival } from './arrival.ts';
import { benchScale, formatScale, type PollMode, type ScaleResult } from './scale.ts';
import { cpuSeconds, type StackProcess, startStackProcess } from './stack-process.ts';

const { values: opt } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'all' },
    pilots: { type: 'string' },
    jobs: { type: 'string' },
    interval: { type: 'string', default: '100' },
    mode: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});

const root = join(import.meta.dirname, '..', '..');
const progress = (s: string) => {
  if (!opt.json) process.stderr.write(`\r\x1b[2K${s}`);
};

interface Job {
  id: string;
  state: string;
  definedAt: string;
  startedAt?: string;
  payloadStartedAt?: string;
  endedAt?: string;
}

async function call<T>(st: StackProcess, method: string, path: string, body?: unknown): Promise<T> {
  const r = await fetch(`${st.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${st.adminToken}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
  return (await r.json()) as T;
}

function startPilots(st: StackProcess, count: number): ChildProcess {
  const joblog = mkdtempSync(join(tmpdir(), 'p3s-bench-jobs-'));
  return spawn(
    process.execPath,
    [
      join(root, 'dist', 'p3s-pilot.mjs'),
      '--server',
      st.url,
      '--count',
      String(count),
      '--in-process',
      '--joblog',
      joblog,
      '--log-level',
      'warn',
      '--beat',
      '5',
    ],
    {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, P3S_TOKEN: st.pilotToken },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
}

async function waitPilots(st: StackProcess, n: number): Promise<void> {
  const until = Date.now() + 60_000;
  for (;;) {
    const r = await call<{ pilots: { state: string }[] }>(st, 'GET', '/pilots?state=waiting&limit=1000');
    progress(`pilots idle: ${r.pilots.length}/${n}`);
    if (r.pilots.length >= n) return;
    if (Date.now() > until) throw new Error(`only ${r.pilots.length} of ${n} pilots became idle`);
    await new Promise((res) => setTimeout(res, 200));
  }
}

async function jobsOf(st: StackProcess, ids: Set<string>): Promise<Job[]> {
  const out: Job[] = [];
  let cursor: string | undefined;
  do {
    const r = await call<{ jobs: Job[]; nextCursor?: string }>(
      st,
      'GET',
      `/jobs?state=finished&limit=500${cursor ? `&cursor=${cursor}` : ''}`,
    );
    out.push(...r.jobs.filter((j) => ids.has(j.id)));
    cursor = r.nextCursor;
  } while (cursor);
  return out;
}

const pct = (xs: number[], p: number) => {
  if (!xs.length) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};

interface Result {
  scenario: string;
  pilots: number;
  jobs: number;
  latencyMs: { p50: number; p95: number; p99: number; max: number };
  throughputJobsPerS: number;
  stackCpuMsPerJob: number;
  /** The stack's CPU split: its node process (handlers, runtime) and DynamoDB Local (java). */
  stackCpuSplitMsPerJob: { node: number; dynamodb: number };
  pilotCpuMsPerJob: number;
  wallS: number;
}

async function run(scenario: 'idle' | 'burst'): Promise<Result> {
  const pilots = Number(opt.pilots ?? (scenario === 'idle' ? 10 : 50));
  const n = Number(opt.jobs ?? (scenario === 'idle' ? 200 : 2000));
  progress(`${scenario}: starting the local stack…`);
  const st = await startStackProcess();
  const fleet = startPilots(st, pilots);
  try {
    await waitPilots(st, pilots);
    const ids = new Set<string>();
    const cpu0 = st.cpu();
    const node0 = cpuSeconds(st.pids.node);
    const pcpu0 = cpuSeconds(fleet.pid!);
    const t0 = Date.now();
    if (scenario === 'idle') {
      for (let i = 0; i < n; i++) {
        const [j] = await call<Job[]>(st, 'POST', '/jobs', [
          { name: `bench-${i}`, jobtype: 'bench', payload: '/bin/true' },
        ]);
        ids.add(j!.id);
        progress(`idle: submitted ${i + 1}/${n}`);
        await new Promise((res) => setTimeout(res, Number(opt.interval)));
      }
    } else {
      for (let i = 0; i < n; i += 500) {
        const batch = Array.from({ length: Math.min(500, n - i) }, (_, k) => ({
          name: `bench-${i + k}`,
          jobtype: 'bench',
          payload: '/bin/true',
        }));
        for (const j of await call<Job[]>(st, 'POST', '/jobs', batch)) ids.add(j.id);
      }
    }
    // Wait until every job has ended, from the counters (cheap), with a progress line.
    const until = Date.now() + 600_000;
    for (;;) {
      const s = await call<{ jobs: Record<string, number> }>(st, 'GET', '/summary');
      const finished = s.jobs.finished ?? 0;
      progress(
        `${scenario}: ${finished}/${n} finished, ${s.jobs.defined ?? 0} queued, ${(s.jobs.running ?? 0) + (s.jobs.dispatched ?? 0)} in flight`,
      );
      if (finished >= n) break;
      if (Date.now() > until) throw new Error(`${scenario}: only ${finished}/${n} jobs finished in time`);
      await new Promise((res) => setTimeout(res, 250));
    }
    const cpu = st.cpu() - cpu0;
    const nodeCpu = cpuSeconds(st.pids.node) - node0;
    const pcpu = cpuSeconds(fleet.pid!) - pcpu0;
    const jobs = await jobsOf(st, ids);
    const lat = jobs.map((j) => Date.parse(j.payloadStartedAt ?? j.startedAt!) - Date.parse(j.definedAt));
    const first = Math.min(...jobs.map((j) => Date.parse(j.definedAt)));
    const last = Math.max(...jobs.map((j) => Date.parse(j.endedAt!)));
    progress('');
    return {
      scenario,
      pilots,
      jobs: jobs.length,
      latencyMs: { p50: pct(lat, 50), p95: pct(lat, 95), p99: pct(lat, 99), max: Math.max(...lat) },
      throughputJobsPerS: Math.round((jobs.length / ((last - first) / 1000)) * 10) / 10,
      stackCpuMsPerJob: Math.round((cpu * 1000 * 10) / jobs.length) / 10,
      stackCpuSplitMsPerJob: {
        node: Math.round((nodeCpu * 1000 * 10) / jobs.length) / 10,
        dynamodb: Math.round(((cpu - nodeCpu) * 1000 * 10) / jobs.length) / 10,
      },
      pilotCpuMsPerJob: Math.round((pcpu * 1000 * 10) / jobs.length) / 10,
      wallS: Math.round((Date.now() - t0) / 100) / 10,
    };
  } finally {
    fleet.kill('SIGTERM');
    await new Promise((r) => fleet.once('exit', r));
    await st.stop();
  }
}

const SCENARIOS = ['idle', 'burst', 'arrival', 'scale'] as const;
type Scenario = (typeof SCENARIOS)[number];
if (opt.scenario !== 'all' && !SCENARIOS.includes(opt.scenario as Scenario)) {
  process.stderr.write(`bench: unknown --scenario ${opt.scenario} (idle, burst, arrival, scale or all)\n`);
  process.exit(2);
}
const scenarios: Scenario[] =
  opt.scenario === 'all' ? ['idle', 'burst', 'arrival'] : [opt.scenario as Scenario];
const results: (Result | ArrivalResult | ScaleResult)[] = [];
for (const sc of scenarios) {
  if (sc === 'scale') {
    const big = Number(opt.pilots ?? 2000);
    for (const pilots of big === 200 ? [200] : [big, 200]) {
      for (const mode of opt.mode ? [opt.mode as PollMode] : (['long', 'paced'] as const)) {
        const r = await benchScale({ pilots, mode, progress });
        progress('');
        results.push(r);
        if (!opt.json) process.stdout.write(`${formatScale(r)}\n`);
      }
    }
    continue;
  }
  if (sc === 'arrival') {
    const paths = existsSync('/usr/bin/xrootd') ? undefined : (['watch', 's3'] as const);
    if (paths) progress('arrival: xrootd is not installed, measuring the directory and S3 paths only');
    const rs = await benchArrival({ paths: paths && [...paths], progress });
    progress('');
    results.push(...rs);
    if (!opt.json) for (const r of rs) process.stdout.write(`${formatArrival(r)}\n`);
    continue;
  }
  const r = await run(sc);
  results.push(r);
  if (!opt.json) {
    process.stdout.write(
      `${r.scenario}: ${r.pilots} pilots, ${r.jobs} jobs — dispatch latency p50 ${r.latencyMs.p50} ms, p95 ${r.latencyMs.p95} ms, p99 ${r.latencyMs.p99} ms (max ${r.latencyMs.max}); ` +
        `throughput ${r.throughputJobsPerS} jobs/s; stack CPU ${r.stackCpuMsPerJob} ms/job (node ${r.stackCpuSplitMsPerJob.node}, DynamoDB Local ${r.stackCpuSplitMsPerJob.dynamodb}; pilots ${r.pilotCpuMsPerJob} ms/job); ${r.wallS} s\n`,
    );
  }
}
if (opt.json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
process.stdout.write(
  opt.json
    ? ''
    : scenarios.includes('scale')
      ? 'targets (docs/cost-model.md, "Idle pilots"): 2,000 idle pilots, local default mode (long): no pilot errors, API p99 ≤ 200 ms, dispatch p50 ≤ 100 ms, stack < 20 % of a core at rest\n'
      : 'targets (docs/design.md §10): latency p50 ≤ 100 ms, p99 ≤ 1 s; ≥ 200 jobs/s with 50 pilots; ≤ 10 ms stack CPU per job; data arrival → payload started p50 ≤ 1 s\n',
);
