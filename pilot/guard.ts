/**
 * The payload guard: a few lines of `/bin/sh`, started next to every payload, that kill the
 * payload's process group when the pilot can no longer do it.
 *
 * The pilot stays the payload's parent (so it sees the payload's own exit code and signal, and
 * a spawn error is a nonstarter, exactly as before); the guard is a sibling in a session of its
 * own, holding the read end of a pipe whose only write end is in the pilot:
 *
 * - the pilot writes `done` once the payload's group is gone: the guard exits;
 * - end of file without `done` means the pilot process is gone, whatever killed it (SIGKILL, the
 *   OOM killer, a batch system killing the pilot's pid): the kernel closes the pipe, and the
 *   guard SIGTERMs the group, then SIGKILLs what is left after the kill grace;
 * - with a time limit, the guard also enforces it, kill grace + 1 s after the pilot would have
 *   (so it never races a pilot that is alive and well), for a pilot that is alive but cannot
 *   act: stopped (SIGSTOP), swapped out, its event loop blocked.
 *
 * The guard's `sleep` timer is killed by the trap that hears the pipe, and the guard waits for
 * it and for its pipe reader to be gone before it exits, so a finished payload leaves nothing
 * of the guard behind. `kill -0` also counts zombies, which a container's PID 1 may never
 * reap: then the guard waits out the kill grace and sends a harmless SIGKILL to them.
 */
import { type ChildProcess, spawn } from 'node:child_process';

/** `sh -c GUARD p3s-guard PGID LIMIT TICKS`; LIMIT in seconds (0 = none), TICKS of 0.1 s. */
export const GUARD_SCRIPT = `g=$1 left=$2 ticks=$3 t= why=
stop() {
  kill -TERM -"$g" 2>/dev/null
  n=0
  while kill -0 -"$g" 2>/dev/null; do
    if [ "$n" -ge "$ticks" ]; then kill -KILL -"$g" 2>/dev/null; break; fi
    sleep 0.1; n=$((n + 1))
  done
  exit 0
}
if [ "$left" = 0 ]; then
  while IFS= read -r l; do [ "$l" = done ] && exit 0; done
  stop
fi
exec 3<&0 </dev/null
sleep "$left" & t=$!
trap 'why=done; kill "$t" 2>/dev/null' USR1
trap 'why=gone; kill "$t" 2>/dev/null' USR2
(while IFS= read -r l <&3; do [ "$l" = done ] && { kill -USR1 $$; exit 0; }; done; kill -USR2 $$) &
r=$!
wait "$t"
wait "$t" 2>/dev/null
[ "$why" = done ] && { wait "$r"; exit 0; }
kill "$r" 2>/dev/null
wait "$r" 2>/dev/null
stop
`;

/** How much later than the pilot the guard enforces a time limit, beyond the kill grace. */
const GUARD_MARGIN_SEC = 1;

/** Seconds from the payload's start after which the guard enforces a time limit (0: none). */
export function guardLimitSec(limitSec: number, killGraceSec: number): number {
  return limitSec > 0 ? limitSec + killGraceSec + GUARD_MARGIN_SEC : 0;
}

export interface Guard {
  readonly pid: number | undefined;
  /** The payload's group is gone: the guard stands down and exits. */
  release(): void;
}

/**
 * Starts the guard of the process group `pgid`. `limitSec` counts from now (0 = no time limit);
 * `killGraceSec` is the pause between SIGTERM and SIGKILL. Never throws: a guard that cannot
 * start leaves the payload to the pilot's own timers and exit hook, as before.
 */
export function startGuard(pgid: number, limitSec: number, killGraceSec: number): Guard {
  const left = limitSec > 0 ? guardLimitSec(limitSec, killGraceSec).toFixed(3) : '0';
  const ticks = String(Math.max(1, Math.ceil(killGraceSec * 10)));
  let child: ChildProcess | undefined;
  try {
    child = spawn('/bin/sh', ['-c', GUARD_SCRIPT, 'p3s-guard', String(pgid), left, ticks], {
      // A session of its own: a signal to the pilot's process group (Ctrl-C, a batch system's
      // group kill) does not take the guard along with the pilot.
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    child.on('error', () => {});
    child.stdin?.on('error', () => {}); // EPIPE if the guard enforced the limit and exited
    child.unref();
    (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  } catch {
    child = undefined;
  }
  let released = false;
  return {
    pid: child?.pid,
    release() {
      if (released || !child?.stdin) return;
      released = true;
      child.stdin.end('done\n');
    },
  };
}
