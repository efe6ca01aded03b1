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
import type { Registration } from './protocol.ts';
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
    const why = await work(ctx).catch((err) => {
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

/** The loop; returns why it ended. */
async function work(ctx: JobContext): Promise<string> {
  const { client, stop, settings: s, options: o } = ctx;
  const endAt = s.lifetime > 0 ? Date.now() + s.lifetime * 1000 : Number.POSITIVE_INFINITY;
  for (let cycle = 1; ; cycle++) {
    if (stop.reason) return stop.reason;
    if (s.cycles > 0 && cycle > s.cycles) return `${s.cycles} cycles done`;
    const left = endAt - Date.now();
    if (left <= 0) return 'lifetime reached';
    const answer = await client.poll(Math.min(s.wait, Math.ceil(left / 1000)), { signal: stop.soft });
    if (answer.state === 'drain' || answer.state === 'killed') return `server said ${answer.state}`;
    let action: PilotAction;
    if (answer.state === 'no jobs') {
      action = await idle(Math.max(s.period, answer.retryAfter) * 1000, ctx);
    } else {
      action = await runJob(answer.job, ctx);
      if (action === 'none' && o.once) return '--once: job done';
    }
    if (action !== 'none') return `server said ${action}`;
  }
}

/** Pause between polls, still sending a heartbeat each beat so a long pause is not taken for death. */
async function idle(ms: number, ctx: JobContext): Promise<PilotAction> {
  if (ms <= 0) return 'none';
  const end = Date.now() + ms;
  const beat = ctx.settings.beat * 1000;
  while (await pause(Math.min(end - Date.now(), beat), ctx.stop.soft)) {
    if (Date.now() >= end) return 'none';
    const r = await ctx.client.report({ event: 'heartbeat' }, { retry: false }).catch((err) => {
      if (err instanceof UnreachableError) return undefined;
      throw err;
    });
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
