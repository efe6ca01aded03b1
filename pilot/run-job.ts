/**
 * One dispatched job, from spawn to its final report: jobstart, a heartbeat every beat while
 * it runs (obeying the answer's action), then jobstop/timelimit/killed with the tails. Every
 * report except heartbeats is retried until the server accepts it; a 409 means the job is not
 * ours any more, so the payload is killed and nothing more is reported for it.
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
  const send = async (r: Omit<Report, 'jobId'>, retry = true) => {
    if (!ours) return;
    try {
      const res = await client.report({ jobId: job.id, ...r }, { until: stop.hard, retry });
      if (res.ok) return heard(res.action);
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
  };

  log.info('job dispatched', { job: job.id, name: job.name });
  const spec = payloadSpec(job, ctx);
  const started = typeof spec === 'string' ? { ok: false as const, message: spec } : await startPayload(spec);
  if (!started.ok) {
    log.warn('payload did not start', { job: job.id, message: started.message });
    await send({ event: 'nonstarter', message: clip(started.message, 1024) });
    return wanted;
  }
  const p = started.payload;
  payload = p;
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
    await send({ event: 'jobstart', pid: p.pid, payloadStartedAt: p.startedAt.toISOString() });
    while (!(await settlesWithin(p.done, ctx.settings.beat * 1000))) {
      if (!stop.hard.aborted)
        await send({ event: 'heartbeat', pid: p.pid, ...liveTails(ctx.options.joblog, job.id) }, false);
    }
    const outcome = await p.done;
    log.info('payload ended', { job: job.id, ...summary(outcome) });
    await send(finalReport(p.pid, outcome));
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
