import type { TestStack } from '../helpers/stack.ts';
import { waitFor } from '../helpers/stack.ts';

/** The registered file at `location` once its rules have created a job (the data item). */
export function fileWithJobs(
  s: TestStack,
  location: string,
  what = 'the file registered',
  timeoutMs = 30_000,
) {
  return waitFor(
    async () => {
      const d = (await s.call('GET', `/data?location=${encodeURIComponent(location)}`)).body.data[0];
      return d?.jobIds?.length && d;
    },
    { what, timeoutMs },
  );
}

/** The job once it has ended. */
export function jobEnded(s: TestStack, id: string, timeoutMs = 60_000) {
  return waitFor(
    async () => {
      const j = (await s.call('GET', `/jobs/${id}`)).body;
      return j.endedAt && j;
    },
    { what: `job ${id} to end`, timeoutMs },
  );
}

/** Arrival → payload start, as the e2e tests print it (the bench measures it properly). */
export function reportLatency(
  path: string,
  arrivalMs: number,
  job: { payloadStartedAt?: string; startedAt: string },
) {
  const ms = Date.parse(job.payloadStartedAt ?? job.startedAt) - arrivalMs;
  process.stdout.write(`# ${path} arrival → payload start: ${ms} ms\n`);
}
