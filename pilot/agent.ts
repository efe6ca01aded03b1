/**
 * The pilot's life: register → poll → run the job → poll again …, until cycles are used up,
 * the lifetime is reached, --once is satisfied, the server says drain/kill, or the Stopper
 * fires (SIGTERM/SIGINT); then report `stopped`. Returns the process exit code.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { availableParallelism, hostname, totalmem } from 'node:os';
import {
  AuthError,
  type Backoff,
  PilotClient,
  RejectedError,
  StoppedError,
  UnreachableError,
} from './http.ts';
import type { Logger } from './log.ts';
import { type Options, settle } from './options.ts';
import type { PollAnswer, Registration } from './protocol.ts';
import { type JobContext, type PilotAction, runJob } from './run-job.ts';
import type { Stopper } from './stopper.ts';
import { pause } from './time.ts';
import { VERSION } from './version.ts';

export interface AgentDeps {
  stop: Stopper;
  log: Logger;
  id?: string;
  env?: NodeJS.ProcessEnv;
  backoff?: Backoff;
}

export async function runPilot(options: Options, deps: AgentDeps): Promise<number> {
  const { stop, log } = deps;
  const id = deps.id ?? randomUUID();
  const key = randomBytes(32).toString('base64url');
  const client = new PilotClient({
    server: options.server,
    token: options.token,
    pilotId: id,
    key,
    log,
    backoff: deps.backoff,
  });
  try {
    const config = await client.register(registration(id, key, options), { signal: stop.soft });
    const settings = settle(options, config);
    log.info('registered', { server: options.server, site: options.site, ...settings, siteEnv: undefined });
    const ctx: JobContext = {
      client,
      log,
      options,
      settings,
      pilotId: id,
      stop,
      env: deps.env ?? process.env,
    };
    const why = await work(ctx, () => reregister(ctx, key)).catch((err) => {
      if (err instanceof StoppedError) return stop.reason ?? 'stopped';
      throw err;
    });
    log.info('stopping', { reason: why });
    await client.report({ event: 'stopped', message: why }, { until: stop.hard }).catch((err) => {
      if (!(err instanceof UnreachableError)) throw err;
      log.warn('report stopped not delivered', { error: err.message });
    });
    return 0;
  } catch (err) {
    if (err instanceof StoppedError) return 0; // stopped before registration completed
    log.error((err as Error).message);
    if (err instanceof AuthError) return 3;
    if (err instanceof RejectedError) return 4;
    return 1;
  }
}

/**
 * The server no longer counts this pilot (it ended it as `timeout` — its heartbeat was lost
 * during an outage or a network cut, or it did not start a job in time — or it does not know it
 * at all): register again under a new id and carry on. Only an explicit kill or drain stops a
 * pilot. The payload of a job the server had ended was already killed (its reports got 409).
 */
async function reregister(ctx: JobContext, key: string): Promise<void> {
  const old = ctx.client.pilotId;
  const id = randomUUID();
  ctx.client.useId(id);
  ctx.pilotId = id;
  await ctx.client.register(registration(id, key, ctx.options), { signal: ctx.stop.soft });
  ctx.log.warn('the server had ended this pilot: registered again', { old, id });
}

/** Registrations again in a row whose first poll is refused too, before the pilot gives up (exit 4). */
const MAX_REREGISTRATIONS = 3;

/** The server said (404/409) that it does not count this pilot any more. */
const forgotten = (status: number) => status === 404 || status === 409;

/** The loop; returns why it ended. */
async function work(ctx: JobContext, again: () => Promise<void>): Promise<string> {
  const { client, stop, settings: s, options: o } = ctx;
  const endAt = s.lifetime > 0 ? Date.now() + s.lifetime * 1000 : Number.POSITIVE_INFINITY;
  let refusedInARow = 0;
  /** What the last job's final report brought back (its next job, or a stop), used as a poll's answer. */
  let handed: PollAnswer | undefined;
  for (let cycle = 1; ; cycle++) {
    // A job handed over and then left unstarted (stop, cycles, lifetime) is given back by the
    // `stopped` report: the server puts it back in the queue.
    if (stop.reason) return stop.reason;
    if (s.cycles > 0 && cycle > s.cycles) return `${s.cycles} cycles done`;
    const left = endAt - Date.now();
    if (left <= 0) return 'lifetime reached';
    let answer: PollAnswer;
    if (handed && handed.state !== 'no jobs') {
      answer = handed;
      handed = undefined;
    } else {
      handed = undefined;
      try {
        answer = await client.poll(Math.min(s.wait, Math.ceil(left / 1000)), { signal: stop.soft });
      } catch (err) {
        if (!(err instanceof RejectedError && forgotten(err.status))) throw err;
        // A server that refuses even a fresh registration's polls is not a lost registration.
        if (++refusedInARow > MAX_REREGISTRATIONS) throw err;
        ctx.log.warn('poll refused', { error: err.message });
        await again();
        cycle--; // not a cycle of work
        continue;
      }
      refusedInARow = 0;
    }
    if (answer.state === 'drain' || answer.state === 'killed') return `server said ${answer.state}`;
    let action: PilotAction | 'forgotten';
    if (answer.state === 'no jobs') {
      // A pace the server set (paced polling) covers the silence until the next poll: the server
      // expects no heartbeat before it (docs/protocol.md, "Idle pilots"). The pilot's own longer
      // period does not, so it beats through that.
      const paced = answer.retryAfter > 0 && answer.retryAfter >= s.period;
      action = await idle(Math.max(s.period, answer.retryAfter) * 1000, ctx, !paced);
    } else {
      // Ask for the next job with this one's final report when there will be a next cycle.
      const more = s.reportNext && !o.once && (s.cycles === 0 || cycle < s.cycles);
      const r = await runJob(answer.job, ctx, more);
      action = r.action;
      handed = r.next;
      if (action === 'none' && o.once) return '--once: job done';
    }
    if (action === 'forgotten') {
      await again();
      continue;
    }
    if (action !== 'none') return `server said ${action}`;
  }
}

/**
 * Pause between polls, sending a heartbeat each beat (with `beats`) so a long pause is not taken
 * for death.
 */
async function idle(ms: number, ctx: JobContext, beats: boolean): Promise<PilotAction | 'forgotten'> {
  if (ms <= 0) return 'none';
  if (!beats) {
    await pause(ms, ctx.stop.soft); // a stop ends it early; the loop then sees stop.reason
    return 'none';
  }
  const end = Date.now() + ms;
  const beat = ctx.settings.beat * 1000;
  while (await pause(Math.min(end - Date.now(), beat), ctx.stop.soft)) {
    if (Date.now() >= end) return 'none';
    const r = await ctx.client.report({ event: 'heartbeat' }, { retry: false }).catch((err) => {
      if (err instanceof UnreachableError) return undefined;
      throw err;
    });
    if (r && !r.ok && forgotten(r.status)) return 'forgotten';
    if (r?.ok && (r.action === 'drain' || r.action === 'kill')) return r.action;
  }
  return 'none';
}

function registration(id: string, key: string, o: Options): Registration {
  return {
    id,
    key,
    host: hostname(),
    site: o.site,
    pid: process.pid,
    extra: o.extra?.slice(0, 128),
    version: VERSION,
    resources: { cpus: availableParallelism(), memoryMb: Math.round(totalmem() / 2 ** 20) },
  };
}
