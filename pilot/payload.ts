/**
 * Runs one payload as a real process: in a fresh per-job work directory, its own process
 * group (so a time limit or kill reaches everything it started), stdout/stderr in
 * `<joblog>/<job>.out|.err`, a wall-clock time limit, and bounded tails for the report. A guard
 * (`guard.ts`) kills the group if the pilot dies or cannot act, so no payload outlives its pilot.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import {
  appendFileSync,
  closeSync,
  copyFileSync,
  fstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
} from 'node:fs';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { guardLimitSec, startGuard } from './guard.ts';
import type { ExecMode } from './job-env.ts';
import { splitArgs } from './split-args.ts';
import { pause } from './time.ts';

/** Bytes of each of stdout and stderr sent with the final report. */
export const TAIL_BYTES = 4096;

export interface PayloadSpec {
  jobId: string;
  payload: string;
  mode: ExecMode;
  env: Record<string, string>;
  /** Wall-clock seconds; 0 = none. */
  timelimit: number;
  joblog: string;
  /** Root of the per-job work directories. */
  workdir: string;
  /** Seconds between SIGTERM and SIGKILL. */
  killGrace: number;
  /** Where relative executable paths are resolved: the pilot's cwd, as in the original. */
  cwd?: string;
}

type EndEvent = 'jobstop' | 'timelimit' | 'killed';

export interface PayloadOutcome {
  event: EndEvent;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdoutTail: string;
  stderrTail: string;
  /** Why the pilot ended it (timelimit, killed). */
  message?: string;
}

export interface RunningPayload {
  readonly pid: number;
  /** The job's work directory (its cwd). */
  readonly dir: string;
  /** Pilot clock, right after the process started. */
  readonly startedAt: Date;
  /** Settles once the payload and everything left in its process group are gone. */
  readonly done: Promise<PayloadOutcome>;
  /** SIGTERM to the whole process group, SIGKILL after the kill grace. The first reason wins. */
  kill(event: 'timelimit' | 'killed', message: string): void;
}

export type StartResult = { ok: true; payload: RunningPayload } | { ok: false; message: string };

/** Process groups of payloads still running, for the last-resort kill when the pilot exits. */
const live = new Set<number>();

/** SIGKILLs every payload process group still alive; synchronous, for process.on('exit'). */
export function killAllNow(): void {
  for (const pgid of live) signalGroup(pgid, 'SIGKILL');
}

export async function startPayload(spec: PayloadSpec): Promise<StartResult> {
  const name = spec.jobId.replace(/[^A-Za-z0-9_.-]/g, '_');
  const outPath = join(spec.joblog, `${name}.out`);
  const errPath = join(spec.joblog, `${name}.err`);
  const nonstarter = (err: unknown): StartResult => {
    const e = err as NodeJS.ErrnoException;
    const message = e.code ? `${e.code}: ${e.message}` : String(e.message ?? err);
    try {
      appendFileSync(errPath, `p3s-pilot: nonstarter: ${message}\n`);
    } catch {
      // The report still carries the message.
    }
    return { ok: false, message };
  };

  let dir: string;
  let command: string;
  let args: string[];
  let child: ChildProcess;
  try {
    mkdirSync(spec.joblog, { recursive: true });
    dir = freshDir(spec.workdir, name);
    [command, args] = commandLine(spec, dir);
    const out = openSync(outPath, 'w');
    const err = openSync(errPath, 'w');
    try {
      // detached: a new process group led by the payload, so signals reach all it started.
      child = spawn(command, args, { cwd: dir, env: spec.env, stdio: ['ignore', out, err], detached: true });
    } finally {
      // The child has its own copies once spawn() returns.
      closeSync(out);
      closeSync(err);
    }
  } catch (err) {
    return nonstarter(err);
  }
  // spawn() returns after the exec succeeded (or with no pid): the payload is running now.
  const startedAt = new Date();
  // Guard the group at once, before anything can await: the pilot may die at any moment.
  const guard = child.pid === undefined ? undefined : startGuard(child.pid, spec.timelimit, spec.killGrace);
  const failed = await new Promise<Error | undefined>((resolve) => {
    child.once('spawn', () => resolve(undefined));
    child.once('error', resolve);
  });
  if (failed || child.pid === undefined) {
    guard?.release();
    return nonstarter(failed ?? new Error('no pid'));
  }
  child.on('error', () => {});
  const pid = child.pid;
  live.add(pid);

  let ending: { event: 'timelimit' | 'killed'; message: string; deadline: number } | undefined;
  let exited = false;
  let killTimer: NodeJS.Timeout | undefined;
  const graceMs = spec.killGrace * 1000;
  const kill = (event: 'timelimit' | 'killed', message: string) => {
    if (ending || exited) return;
    ending = { event, message, deadline: Date.now() + graceMs };
    signalGroup(pid, 'SIGTERM');
    killTimer = setTimeout(() => signalGroup(pid, 'SIGKILL'), graceMs);
  };
  const limitTimer =
    spec.timelimit > 0
      ? setTimeout(
          () => kill('timelimit', `time limit of ${spec.timelimit} s reached`),
          spec.timelimit * 1000,
        )
      : undefined;

  const done = new Promise<PayloadOutcome>((resolve) => {
    child.once('exit', (exitCode, signal) => {
      exited = true;
      clearTimeout(limitTimer);
      // Killed by a signal past the guard's deadline, with no kill of ours: the guard enforced
      // the time limit while this pilot could not act (stopped, swapped out). After a SIGCONT
      // the exit may be seen before the overdue limit timer fires.
      const guardAt = startedAt.getTime() + guardLimitSec(spec.timelimit, spec.killGrace) * 1000;
      if (!ending && signal && spec.timelimit > 0 && Date.now() >= guardAt)
        ending = {
          event: 'timelimit',
          message: `time limit of ${spec.timelimit} s reached (enforced by the payload's guard: the pilot could not act)`,
          deadline: Date.now() + graceMs,
        };
      // Whatever the payload left behind in its group goes too: a pilot leaves nothing running.
      void reapGroup(pid, ending?.deadline ?? Date.now() + graceMs, !ending).then(() => {
        clearTimeout(killTimer);
        live.delete(pid);
        guard?.release();
        resolve({
          event: ending?.event ?? 'jobstop',
          exitCode,
          signal,
          stdoutTail: readTail(outPath),
          stderrTail: readTail(errPath),
          message: ending?.message,
        });
      });
    });
  });
  return { ok: true, payload: { pid, dir, startedAt, done, kill } };
}

function commandLine(spec: PayloadSpec, dir: string): [string, string[]] {
  if (spec.mode === 'shell') return ['/bin/sh', ['-c', spec.payload]];
  const [first, ...rest] = splitArgs(spec.payload);
  if (first === undefined) throw new Error('empty payload');
  const cwd = spec.cwd ?? process.cwd();
  if (spec.mode === 'copy') {
    const copy = join(dir, basename(first));
    copyFileSync(resolve(cwd, first), copy); // keeps the mode bits, so the copy stays executable
    return [copy, rest];
  }
  // The job's cwd is its fresh work dir; `./x` in a payload means the pilot's cwd, as before.
  return [first.includes('/') && !isAbsolute(first) ? resolve(cwd, first) : first, rest];
}

/** `<root>/<name>`, or `<root>/<name>-XXXXXX` if that exists already: never a used directory. */
function freshDir(root: string, name: string): string {
  mkdirSync(root, { recursive: true });
  const dir = join(root, name);
  try {
    mkdirSync(dir);
    return dir;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return mkdtempSync(`${dir}-`);
  }
}

/** The last `max` bytes of a file as text, not starting in the middle of a UTF-8 character. */
export function readTail(path: string, max = TAIL_BYTES): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return '';
  }
  try {
    const size = fstatSync(fd).size;
    const n = Math.min(size, max);
    const buf = Buffer.alloc(n);
    readSync(fd, buf, 0, n, size - n);
    let start = 0;
    if (n < size) while (start < n && ((buf[start] as number) & 0xc0) === 0x80) start++;
    return buf.subarray(start).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the group is gone already.
  }
}

/** SIGTERM (unless already sent) what is left of the group, SIGKILL at the deadline. */
async function reapGroup(pgid: number, deadline: number, term: boolean): Promise<void> {
  if (!groupAlive(pgid)) return;
  if (term) signalGroup(pgid, 'SIGTERM');
  while (Date.now() < deadline) {
    if (!groupAlive(pgid)) return;
    await pause(Math.min(25, deadline - Date.now()));
  }
  signalGroup(pgid, 'SIGKILL');
  const end = Date.now() + 1000;
  while (Date.now() < end && groupAlive(pgid)) await pause(25);
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // kill(0) also succeeds on zombies, which a container's PID 1 may never reap.
  const members = groupMembers(pgid);
  return members === undefined || members.length > 0;
}

/** Live (non-zombie) processes in a process group, from /proc; undefined where there is none. */
export function groupMembers(pgid: number): number[] | undefined {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return undefined;
  }
  const out: number[] = [];
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${e}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // "pid (comm) state ppid pgrp …" — comm may contain spaces and parentheses.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z' && state !== 'X') out.push(Number(e));
  }
  return out;
}
