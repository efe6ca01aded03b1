/**
 * `npm run bench -- --scenario scale --pilots 2000 [--json]` — idle pilots at scale
 * (docs/cost-model.md, "Idle pilots"). For each polling mode (long, paced) and each fleet size
 * (the given one and 200): starts the local stack in memory as its own process, N in-process
 * pilots (`p3s-pilot --count N --in-process`) and, once all are idle, measures
 *   - the stack's CPU per second at rest (node + DynamoDB Local, over REST_S seconds: a whole
 *     cycle of held polls),
 *   - API latency while they idle: a probe pilot's poll (wait 0) and heartbeat, and GET /summary,
 *     each sent every PROBE_MS for PROBE_S seconds (heartbeats and /summary also during dispatch),
 *   - dispatch latency of JOBS jobs submitted one at a time, 1 s apart (definedAt → payload start),
 *   - errors the pilots saw (their warn/error log lines: failed requests, retries).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuSeconds, type StackProcess, startStackProcess } from './stack-process.ts';

const root = join(import.meta.dirname, '..', '..');
/** At rest: longer than a held poll (90 s locally), so the window sees every pilot poll again. */
const REST_S = 95;
const PROBE_S = 10;
const PROBE_MS = 250;
const JOBS = 20;

export type PollMode = 'long' | 'paced';

interface Pct {
  p50: number;
  p99: number;
  max: number;
  n: number;
}

export interface ScaleResult {
  scenario: 'scale';
  mode: PollMode;
  pilots: number;
  /** Seconds from the fleet's start until every pilot was idle. */
  idleAfterS: number;
  /** The stack's CPU at rest, in % of one core (node + DynamoDB Local). */
  restCpuPercent: number;
  restCpuSplitPercent: { node: number; dynamodb: number };
  api: Record<'poll' | 'heartbeat' | 'summary', Pct>;
  dispatch: Pct;
  /** Warnings and errors the pilots logged (failed requests, retries). */
  pilotErrors: number;
  pilotErrorSample: string[];
  /** Probe requests that failed (non-2xx or network). */
  probeErrors: number;
  probeErrorSample: string[];
}

const pct = (xs: number[]): Pct => {
  const s = [...xs].sort((a, b) => a - b);
  const at = (p: number) =>
    s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! : Number.NaN;
  return { p50: at(50), p99: at(99), max: s.length ? s[s.length - 1]! : Number.NaN, n: s.length };
};

async function call<T>(
  st: StackProcess,
  method: string,
  path: string,
  body?: unknown,
  headers = {},
): Promise<T> {
  const r = await fetch(`${st.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${st.adminToken}`, 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
  return (await r.json()) as T;
}

function startFleet(st: StackProcess, count: number, errors: string[]): ChildProcess {
  const joblog = mkdtempSync(join(tmpdir(), 'p3s-bench-scale-'));
  const fleet = spawn(
    process.execPath,
    [
      join(root, 'dist', 'p3s-pilot.mjs'),
      ...['--server', st.url, '--count', String(count), '--in-process', '--joblog', joblog],
      ...['--log-level', 'warn', '--json'],
    ],
    {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, P3S_TOKEN: st.pilotToken },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let rest = '';
  fleet.stderr!.on('data', (d: Buffer) => {
    rest += d.toString();
    const lines = rest.split('\n');
    rest = lines.pop() ?? '';
    for (const l of lines) if (/"level":"(warn|error)"/.test(l)) errors.push(l);
  });
  return fleet;
}

async function summary(st: StackProcess) {
  return call<{ pilots: Record<string, number>; jobs: Record<string, number> }>(st, 'GET', '/summary');
}

/** A pilot of the bench's own that sends the probe polls and heartbeats. */
async function probePilot(st: StackProcess) {
  const id = randomUUID();
  const key = randomBytes(24).toString('hex');
  const auth = { authorization: `Bearer ${st.pilotToken}`, 'x-p3s-pilot-key': key };
  await call(st, 'POST', '/pilots', { id, key, host: hostname() }, auth);
  return {
    poll: () => call(st, 'POST', `/pilots/${id}/poll`, { wait: 0 }, auth),
    heartbeat: () => call(st, 'POST', `/pilots/${id}/report`, { event: 'heartbeat' }, auth),
  };
}

type Route = 'poll' | 'heartbeat' | 'summary';

/**
 * Sends each probe every PROBE_MS until stopped (`stopPolls` ends the poll probe alone: the probe
 * pilot must not take the dispatch phase's jobs, which it would never start).
 */
async function probe(st: StackProcess) {
  const p = await probePilot(st);
  const lat: Record<Route, number[]> = { poll: [], heartbeat: [], summary: [] };
  const errors: string[] = [];
  const stopped = new Set<Route>();
  const loop = async (route: Route, send: () => Promise<unknown>) => {
    while (!stopped.has(route)) {
      const t = performance.now();
      try {
        await send();
        lat[route].push(Math.round(performance.now() - t));
      } catch (err) {
        errors.push(`${route}: ${(err as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, PROBE_MS));
    }
  };
  const running = Promise.all([
    loop('poll', p.poll),
    loop('heartbeat', p.heartbeat),
    loop('summary', () => summary(st)),
  ]);
  return {
    stopPolls: () => stopped.add('poll'),
    async stop() {
      for (const r of ['poll', 'heartbeat', 'summary'] as const) stopped.add(r);
      await running;
      return { lat, errors };
    },
  };
}

export async function benchScale(o: {
  pilots: number;
  mode: PollMode;
  progress: (s: string) => void;
}): Promise<ScaleResult> {
  const { pilots: n, mode, progress } = o;
  const tag = `scale ${mode} ×${n}`;
  progress(`${tag}: starting the local stack…`);
  const st = await startStackProcess({ env: { P3S_POLL_MODE: mode } });
  const errors: string[] = [];
  const t0 = Date.now();
  const fleet = startFleet(st, n, errors);
  try {
    // Every pilot idle (the counter, not a listing of 2,000 pilots).
    for (;;) {
      const waiting = (await summary(st)).pilots.waiting ?? 0;
      progress(`${tag}: pilots idle ${waiting}/${n}`);
      if (waiting >= n) break;
      if (Date.now() - t0 > 300_000) throw new Error(`${tag}: only ${waiting} of ${n} pilots became idle`);
      await new Promise((r) => setTimeout(r, 500));
    }
    const idleAfterS = Math.round((Date.now() - t0) / 100) / 10;

    // At rest: the CPU first (the probes would add to it), then the probes.
    const cpu0 = st.cpu();
    const node0 = cpuSeconds(st.pids.node);
    const r0 = Date.now();
    while (Date.now() - r0 < REST_S * 1000) {
      progress(`${tag}: at rest ${Math.round((Date.now() - r0) / 1000)}/${REST_S} s`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    const restS = (Date.now() - r0) / 1000;
    const cpu = st.cpu() - cpu0;
    const nodeCpu = cpuSeconds(st.pids.node) - node0;
    const probes = await probe(st);
    for (let s = 0; s < PROBE_S; s++) {
      progress(`${tag}: probing ${s}/${PROBE_S} s`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    probes.stopPolls();

    // Dispatch: jobs one at a time, 1 s apart, probes still running.
    const ids: string[] = [];
    for (let i = 0; i < JOBS; i++) {
      const [j] = await call<{ id: string }[]>(st, 'POST', '/jobs', [
        { name: `scale-${i}`, jobtype: 'bench', payload: '/bin/true' },
      ]);
      ids.push(j!.id);
      progress(`${tag}: submitted ${i + 1}/${JOBS}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    for (const until = Date.now() + 120_000; ; ) {
      const finished = (await summary(st)).jobs.finished ?? 0;
      progress(`${tag}: ${finished}/${JOBS} finished`);
      if (finished >= JOBS) break;
      if (Date.now() > until) throw new Error(`${tag}: only ${finished}/${JOBS} jobs finished`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const probed = await probes.stop();
    const lat: number[] = [];
    for (const id of ids) {
      const j = await call<{ definedAt: string; startedAt?: string; payloadStartedAt?: string }>(
        st,
        'GET',
        `/jobs/${id}`,
      );
      lat.push(Date.parse(j.payloadStartedAt ?? j.startedAt!) - Date.parse(j.definedAt));
    }
    const share = (s: number) => Math.round((s / restS) * 1000) / 10;
    return {
      scenario: 'scale',
      mode,
      pilots: n,
      idleAfterS,
      restCpuPercent: share(cpu),
      restCpuSplitPercent: { node: share(nodeCpu), dynamodb: share(cpu - nodeCpu) },
      api: {
        poll: pct(probed.lat.poll),
        heartbeat: pct(probed.lat.heartbeat),
        summary: pct(probed.lat.summary),
      },
      dispatch: pct(lat),
      pilotErrors: errors.length,
      pilotErrorSample: errors.slice(0, 3),
      probeErrors: probed.errors.length,
      probeErrorSample: probed.errors.slice(0, 3),
    };
  } finally {
    fleet.kill('SIGTERM');
    await new Promise((r) => fleet.once('exit', r));
    await st.stop();
  }
}

export function formatScale(r: ScaleResult): string {
  const a = (p: Pct) => `p50 ${p.p50} / p99 ${p.p99} ms`;
  return (
    `scale ${r.mode.padEnd(5)} ${String(r.pilots).padStart(5)} pilots (idle after ${r.idleAfterS} s): ` +
    `rest CPU ${r.restCpuPercent} % of a core (node ${r.restCpuSplitPercent.node}, DynamoDB Local ${r.restCpuSplitPercent.dynamodb}); ` +
    `poll ${a(r.api.poll)}, heartbeat ${a(r.api.heartbeat)}, /summary ${a(r.api.summary)}; ` +
    `dispatch ${a(r.dispatch)} (max ${r.dispatch.max}); pilot errors ${r.pilotErrors}, probe errors ${r.probeErrors}` +
    [...r.pilotErrorSample, ...r.probeErrorSample].map((e) => `\n  e.g. ${e.slice(0, 300)}`).join('')
  );
}
