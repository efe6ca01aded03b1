import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');
export const PILOT_BIN = join(root, 'dist', 'p3s-pilot.mjs');
export const CLI_BIN = join(root, 'dist', 'p3s.mjs');

export interface PilotProcess {
  child: ChildProcess;
  joblog: string;
  output(): string;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

/** Starts real pilot processes (the single-file build) against a stack. */
export function startPilot(
  server: string,
  token: string,
  args: string[] = [],
  env: Record<string, string> = {},
  joblog: string = mkdtempSync(join(tmpdir(), 'p3s-joblog-')),
): PilotProcess {
  const child = spawn(
    process.execPath,
    [PILOT_BIN, '--server', server, '--joblog', joblog, '--wait', '5', '--beat', '1', ...args],
    {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? '/tmp',
        P3S_TOKEN: token,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | string>((resolve) =>
    child.on('exit', (code, sig) => resolve(code ?? sig ?? -1)),
  );
  return {
    child,
    joblog,
    output: () => out,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Runs the `p3s` CLI (single-file build) and returns its exit code and output. */
export function runCli(
  server: string,
  token: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI_BIN, ...args], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', P3S_SERVER: server, P3S_TOKEN: token, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}
