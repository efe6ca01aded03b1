/**
 * The output tails a heartbeat carries while a payload runs, so the monitor shows a running
 * job's stdout/stderr before it ends. Bounded (LIVE_TAIL_BYTES of each), and sent only when
 * the files grew since the last heartbeat that carried them: a quiet payload's heartbeats stay
 * small and cost the server no job write.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { readTail } from './payload.ts';

/** Bytes of each of stdout and stderr per heartbeat (the final report carries TAIL_BYTES). */
export const LIVE_TAIL_BYTES = 2048;

/** What the last heartbeat carried: the job and its files' sizes then. */
let sent: { jobId: string; sizes: string } | undefined;

const sizeOf = (path: string) => {
  try {
    return statSync(path).size;
  } catch {
    return -1;
  }
};

/**
 * `{ stdoutTail, stderrTail }` of the job's `<joblog>/<job>.out|.err` (named as startPayload
 * names them), or `{}` when neither grew since the last call for this job.
 */
export function liveTails(
  joblog: string,
  jobId: string,
  max = LIVE_TAIL_BYTES,
): { stdoutTail?: string; stderrTail?: string } {
  const name = jobId.replace(/[^A-Za-z0-9_.-]/g, '_');
  const out = join(joblog, `${name}.out`);
  const err = join(joblog, `${name}.err`);
  const sizes = `${sizeOf(out)}/${sizeOf(err)}`;
  if (sizes === '-1/-1' || (sent?.jobId === jobId && sent.sizes === sizes)) return {};
  sent = { jobId, sizes };
  return { stdoutTail: readTail(out, max), stderrTail: readTail(err, max) };
}
