/**
 * `--count N`: N pilots as N child processes of this one, so a crashing payload or pilot
 * cannot take its siblings with it. Each child runs in its own process group (a terminal's
 * Ctrl-C reaches only us, and we pass it on exactly once) and stops by itself if we vanish,
 * because its IPC channel to us closes.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Logger } from './log.ts';

export async function runFleet(count: number, argv: string[], log: Logger): Promise<number> {
  const script = process.argv[1];
  if (!script) throw new Error('cannot tell which script to start the pilots from');
  const children: ChildProcess[] = [];
  const exits: Promise<number>[] = [];
  for (let i = 0; i < count; i++) {
    // The last --count wins in parseArgs, so appending one makes each child a single pilot.
    const child = spawn(process.execPath, [...process.execArgv, script, ...argv, '--count', '1'], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      detached: true,
      env: { ...process.env, P3S_PILOT_INDEX: String(i) },
    });
    children.push(child);
    exits.push(
      new Promise((resolve) => {
        child.once('error', (err) => {
          log.error(`pilot ${i} did not start: ${err.message}`);
          resolve(1);
        });
        child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
      }),
    );
  }
  log.info(`started ${count} pilots`, { pids: children.map((c) => c.pid) });
  const forward = (signal: NodeJS.Signals) => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill(signal);
  };
  process.on('SIGTERM', forward);
  process.on('SIGINT', forward);
  const codes = await Promise.all(exits);
  process.off('SIGTERM', forward);
  process.off('SIGINT', forward);
  return codes.find((c) => c !== 0) ?? 0;
}
