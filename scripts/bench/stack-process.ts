import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../localstack/runtime/dynamodb-local.ts';

const root = join(import.meta.dirname, '..', '..');

/** CPU seconds (user + system) a process has used, from /proc (Linux). */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime
    return ticks / 100;
  } catch {
    return 0;
  }
}

export interface StackProcess {
  url: string;
  adminToken: string;
  pilotToken: string;
  pids: { node: number; java: number };
  cpu(): number;
  stop(): Promise<void>;
}

/** Starts `npm start --in-memory` as its own process (so its CPU can be measured apart). */
export async function startStackProcess(env: Record<string, string> = {}): Promise<StackProcess> {
  const home = mkdtempSync(join(tmpdir(), 'p3s-bench-'));
  const port = await freePort();
  const child: ChildProcess = spawn(
    process.execPath,
    [
      // P3S_BENCH_PROFILE=<dir>: write a V8 CPU profile of the stack there when it stops.
      ...(process.env.P3S_BENCH_PROFILE
        ? ['--cpu-prof', `--cpu-prof-dir=${process.env.P3S_BENCH_PROFILE}`]
        : []),
      '--import',
      'tsx',
      '--disable-warning=NodeVersionSupportWarning',
      join(root, 'localstack', 'start.ts'),
      '--in-memory',
    ],
    {
      cwd: root,
      env: { ...process.env, P3S_HOME: home, P3S_PORT: String(port), P3S_LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let log = '';
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  const url = `http://127.0.0.1:${port}`;
  const until = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`stack exited: ${log}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {}
    if (Date.now() > until) throw new Error(`stack did not start: ${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const java = Number(readFileSync(join(home, 'dynamodb.pid'), 'utf8').trim());
  return {
    url,
    adminToken: readFileSync(join(home, 'admin.token'), 'utf8').trim(),
    pilotToken: readFileSync(join(home, 'pilot.token'), 'utf8').trim(),
    pids: { node: child.pid!, java },
    cpu: () => cpuSeconds(child.pid!) + cpuSeconds(java),
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      // P3S_BENCH_STACK_LOG=<file>: keep the stack's log (warnings and errors) for a look afterwards.
      if (process.env.P3S_BENCH_STACK_LOG) writeFileSync(process.env.P3S_BENCH_STACK_LOG, log);
      rmSync(home, { recursive: true, force: true });
    },
  };
}
