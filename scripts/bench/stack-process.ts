import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
  } catch {
    return false;
  }
}

export interface StackProcess {
  url: string;
  home: string;
  adminToken: string;
  pilotToken: string;
  s3Endpoint?: string;
  dynamoEndpoint: string;
  /** The process started: node running localstack/start.ts, or npm (`npm: true`). */
  child: ChildProcess;
  /** node running the stack, and Java (DynamoDB Local) as started. */
  pids: { node: number; java: number };
  /** Java's pid now (it changes when the stack restarts DynamoDB Local). */
  javaPid(): number;
  /** Everything the process printed so far. */
  output(): string;
  /** Resolves with the exit code, or the signal's name. */
  exited: Promise<number | string>;
  cpu(): number;
  /** SIGTERM (or `signal`) and wait for the exit; removes a home it made itself. */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

export interface StackProcessOptions {
  env?: Record<string, string>;
  /** State directory (kept); default a new temporary one (removed by stop()). */
  home?: string;
  /** Default true: `--in-memory`. */
  inMemory?: boolean;
  /** Default 0: a port the system picks, read back from `$P3S_HOME/stack.json`. */
  port?: number;
  /** Start it as `npm start` (what users run) instead of node directly. */
  npm?: boolean;
  /** In a process group of its own (signals to the group: `process.kill(-child.pid, …)`). */
  detached?: boolean;
  /** Longest wait for the stack to answer (default 90 s). */
  timeoutMs?: number;
}

/** Starts the local stack as its own process (so its CPU can be measured apart, or it can be killed). */
export async function startStackProcess(o: StackProcessOptions = {}): Promise<StackProcess> {
  const ownHome = !o.home;
  const home = o.home ?? mkdtempSync(join(tmpdir(), 'p3s-bench-'));
  const stateFile = join(home, 'stack.json');
  rmSync(stateFile, { force: true }); // a stack killed with -9 leaves its own behind
  const args = (o.inMemory ?? true) ? ['--in-memory'] : [];
  const env = {
    ...process.env,
    P3S_HOME: home,
    P3S_PORT: String(o.port ?? 0),
    P3S_LOG_LEVEL: 'warn',
    ...o.env,
  };
  const child: ChildProcess = o.npm
    ? spawn('npm', ['start', '--silent', ...(args.length ? ['--', ...args] : [])], {
        cwd: root,
        env,
        detached: o.detached,
        stdio: ['ignore', 'pipe', 'pipe'],
      })
    : spawn(
        process.execPath,
        [
          // P3S_BENCH_PROFILE=<dir>: write a V8 CPU profile of the stack there when it stops.
          ...(process.env.P3S_BENCH_PROFILE
            ? ['--cpu-prof', `--cpu-prof-dir=${process.env.P3S_BENCH_PROFILE}`]
            : []),
          '--import',
          'tsx',
          join(root, 'localstack', 'start.ts'),
          ...args,
        ],
        { cwd: root, env, detached: o.detached, stdio: ['ignore', 'pipe', 'pipe'] },
      );
  let log = '';
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, sig) => resolve(code ?? sig ?? -1)),
  );
  const until = Date.now() + (o.timeoutMs ?? 90_000);
  let state: { pid: number; url: string; s3Endpoint?: string; dynamoEndpoint: string } | undefined;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`stack exited: ${log}`);
    if (!state && existsSync(stateFile)) state = JSON.parse(readFileSync(stateFile, 'utf8'));
    try {
      if (state && (await fetch(`${state.url}/healthz`)).ok) break;
    } catch {}
    if (Date.now() > until) {
      child.kill('SIGKILL');
      throw new Error(`stack did not start: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const javaPid = () => Number(readFileSync(join(home, 'dynamodb.pid'), 'utf8').trim());
  const java = javaPid();
  return {
    url: state.url,
    home,
    s3Endpoint: state.s3Endpoint,
    dynamoEndpoint: state.dynamoEndpoint,
    adminToken: readFileSync(join(home, 'admin.token'), 'utf8').trim(),
    pilotToken: readFileSync(join(home, 'pilot.token'), 'utf8').trim(),
    child,
    pids: { node: state.pid, java },
    javaPid,
    output: () => log,
    exited,
    cpu: () => cpuSeconds(state.pid) + cpuSeconds(java),
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const code = await exited;
      // npm gone but the stack behind it still there (a test that failed): stop it too.
      if (alive(state.pid)) {
        process.kill(state.pid, 'SIGTERM');
        const until = Date.now() + 20_000;
        while (alive(state.pid) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
        if (alive(state.pid)) process.kill(state.pid, 'SIGKILL');
      }
      // P3S_BENCH_STACK_LOG=<file>: keep the stack's log (warnings and errors) for a look afterwards.
      if (process.env.P3S_BENCH_STACK_LOG) writeFileSync(process.env.P3S_BENCH_STACK_LOG, log);
      if (ownHome) rmSync(home, { recursive: true, force: true });
      return code;
    },
  };
}
