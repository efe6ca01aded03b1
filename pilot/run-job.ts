/**
 * One dispatched job, from jobstart to its final report: jobstart first — the payload is
 * spawned only once the server acknowledged it, so a job the server took back (its jobstart
 * came too late) is never run — then a heartbeat every beat while it runs (the first ones carry
 * the payload's pid and start time; the answer's action is obeyed), then
 * jobstop/timelimit/killed/nonstarter with the tails. Every report except heartbeats is retried
 * until the server accepts it; a 409 means the job is not ours any more, so the payload is
 * killed (or never started) and nothing more is reported for it.
 */
import { type PilotClient, UnreachableError } from './http.ts';
import { execMode, jobEnvironment } from './job-env.ts';
import { liveTails } from './live-tails.ts';
import type { Logger } from './log.ts';
import type { Options, Settings } from './options.ts';
import { type PayloadOutcome, type PayloadSpec, type RunningPayload, startPayload } from './payload.ts';
import { type Action, envMap, type JobOrder, type Report } from './protocol.ts';
import type { Stopper } from './stopper.ts';
import { settlesWithin } from './time.ts';

export interface JobContext {
  client: PilotClient;
  log: Logger;
  options: Options;
  settings: Settings;
  pilotId: string;
  stop: Stopper;
  /** The pilot's own environment (allow-listed into the payload's). */
  env: NodeJS.ProcessEnv;
}

/** What the server asked of the whole pilot while the job ran. */
export type PilotAction = 'none' | 'drain' | 'kill';

export async function runJob(job: JobOrder, ctx: JobContext): Promise<PilotAction> {
  const { client, log, stop } = ctx;
  let wanted: PilotAction = 'none';
  let payload: RunningPayload | undefined;
  let ours = true;

  const heard = (action: Action) => {
    if (action === 'killjob' || action === 'kill')
      payload?.kill('killed', 'killed at the request of the server');
    if (action === 'kill') wanted = 'kill';
    else if (action === 'drain' && wanted === 'none') wanted = 'drain';
  };
  /** Sends a report; true when the server accepted it. */
  const send = async (r: Omit<Report, 'jobId'>, retry = true): Promise<boolean> => {
    if (!ours) return false;
    try {
      const res = await client.report({ jobId: job.id, ...r }, { until: stop.hard, retry });
      if (res.ok) {
        heard(res.action);
        return true;
      }
      log.warn(`report ${r.event} refused for good`, {
        job: job.id,
        status: res.status,
        message: res.message,
      });
      if (res.status === 409) {
        ours = false;
        payload?.kill('killed', 'the server no longer counts this job as ours');
      }
    } catch (err) {
      if (!(err instanceof UnreachableError)) throw err;
      log.warn(`report ${r.event} not delivered`, { job: job.id, error: err.message });
    }
    return false;
  };

  log.info('job dispatched', { job: job.id, name: job.name });
  const spec = payloadSpec(job, ctx);
  if (typeof spec === 'string') {
    log.warn('payload cannot start', { job: job.id, message: spec });
    await send({ event: 'nonstarter', message: clip(spec, 1024) });
    return wanted;
  }
  if (stop.soft.aborted) {
    // Stopping: do not start it. The `stopped` report makes the server put it back in the queue.
    log.info('stopping: job not started', { job: job.id });
    return wanted;
  }
  // The handshake: no payload before the server acknowledged jobstart for this pilot.
  let acknowledged = false;
  try {
    const res = await client.report({ jobId: job.id, event: 'jobstart' }, { until: stop.hard });
    if (res.ok && res.action !== 'killjob') acknowledged = true;
    if (res.ok) heard(res.action === 'killjob' ? 'none' : res.action);
    else
      log.warn('jobstart refused: not starting the job', {
        job: job.id,
        status: res.status,
        message: res.message,
      });
    if (res.ok && res.action === 'killjob')
      log.info('job ended by the server before it started: not starting it', { job: job.id });
  } catch (err) {
    if (!(err instanceof UnreachableError)) throw err;
    log.warn('jobstart not delivered: not starting the job', { job: job.id, error: err.message });
  }
  if (!acknowledged) return wanted;

  const started = await startPayload(spec);
  if (!started.ok) {
    log.warn('payload did not start', { job: job.id, message: started.message });
    await send({ event: 'nonstarter', message: clip(started.message, 1024) });
    return wanted;
  }
  const p = started.payload;
  payload = p;
  const startInfo = { pid: p.pid, payloadStartedAt: p.startedAt.toISOString() };
  let startSent = false;
  log.info('payload started', { job: job.id, pid: p.pid, dir: p.dir });

  const graceMs = ctx.options.grace * 1000;
  let graceTimer: NodeJS.Timeout | undefined;
  const onSoft = () => {
    log.info('stopping: payload may run out its grace', { job: job.id, grace: ctx.options.grace });
    graceTimer = setTimeout(() => p.kill('killed', `pilot stopping (${stop.reason}), grace over`), graceMs);
  };
  const onHard = () => p.kill('killed', `pilot stopped (${stop.reason})`);
  if (stop.soft.aborted) onSoft();
  else stop.soft.addEventListener('abort', onSoft, { once: true });
  if (stop.hard.aborted) onHard();
  else stop.hard.addEventListener('abort', onHard, { once: true });

  try {
    while (!(await settlesWithin(p.done, ctx.settings.beat * 1000))) {
      if (!stop.hard.aborted) {
        // The payload's pid and start go with the heartbeats until one is accepted.
        const ok = await send(
          { event: 'heartbeat', ...(startSent ? {} : startInfo), ...liveTails(ctx.options.joblog, job.id) },
          false,
        );
        if (ok) startSent = true;
      }
    }
    const outcome = await p.done;
    log.info('payload ended', { job: job.id, ...summary(outcome) });
    await send({ ...finalReport(p.pid, outcome), payloadStartedAt: startInfo.payloadStartedAt });
  } finally {
    // Only on an exception (401/403 on a report): never leave the payload running.
    p.kill('killed', 'pilot error');
    clearTimeout(graceTimer);
    stop.soft.removeEventListener('abort', onSoft);
    stop.hard.removeEventListener('abort', onHard);
    await p.done;
  }
  return wanted;
}

function payloadSpec(job: JobOrder, ctx: JobContext): PayloadSpec | string {
  if (typeof job.payload !== 'string' || !job.payload.trim()) return 'the job has no payload';
  let jobEnv: Record<string, string>;
  try {
    jobEnv = envMap(job.env);
  } catch (err) {
    return `job ${(err as Error).message}`;
  }
  const env = jobEnvironment({
    pilotEnv: ctx.env,
    allow: ctx.options.envAllow,
    siteEnv: ctx.settings.siteEnv,
    jobEnv,
    jobId: job.id,
    pilotId: ctx.pilotId,
    site: ctx.options.site,
  });
  const limit = Number(job.timelimit ?? 0);
  return {
    jobId: job.id,
    payload: job.payload,
    mode: execMode(env),
    env,
    timelimit: Number.isFinite(limit) && limit > 0 ? limit : 0,
    joblog: ctx.options.joblog,
    workdir: ctx.options.workdir,
    killGrace: ctx.options.killGrace,
  };
}

function finalReport(pid: number, o: PayloadOutcome): Omit<Report, 'jobId'> {
  return {
    event: o.event,
    pid,
    exitCode: o.exitCode,
    ...(o.signal ? { signal: o.signal } : {}),
    stdoutTail: o.stdoutTail,
    stderrTail: o.stderrTail,
    ...(o.message ? { message: clip(o.message, 1024) } : {}),
  };
}

function summary(o: PayloadOutcome) {
  return { event: o.event, exitCode: o.exitCode, signal: o.signal ?? undefined, message: o.message };
}

function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}
