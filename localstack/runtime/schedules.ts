import { randomUUID } from 'node:crypto';
import { type AnyHandler, invoke } from './invoke.ts';
import { type LocalFunction, rateSeconds } from './serverless-config.ts';
import { alwaysUp, type Dependency } from './supervisor.ts';

export interface ScheduleOverride {
  env?: string;
  default?: number;
}

/**
 * Runs scheduled functions on a local cadence: `custom.localSchedules.<fn>` in serverless.yml
 * (an env var name and a default in seconds) or else the rate from the yml. A run never overlaps
 * the previous one of the same function, and none runs while DynamoDB Local is down (it could
 * only fail; the next tick after the restart does the work).
 */
export function startSchedules(
  fns: { fn: LocalFunction; handler: AnyHandler }[],
  overrides: Record<string, ScheduleOverride>,
  env: NodeJS.ProcessEnv,
  log: (msg: string, f?: Record<string, unknown>) => void,
  dependency: Dependency = alwaysUp,
): { stop(): Promise<void>; intervals: Record<string, number> } {
  const timers: NodeJS.Timeout[] = [];
  const inflight = new Set<Promise<unknown>>();
  const intervals: Record<string, number> = {};
  for (const { fn, handler } of fns) {
    for (const s of fn.schedules) {
      const o = overrides[fn.name];
      const fromEnv = o?.env && env[o.env] ? Number(env[o.env]) : undefined;
      const seconds = fromEnv ?? o?.default ?? rateSeconds(s.rate);
      intervals[fn.name] = seconds;
      let busy = false;
      const tick = () => {
        if (busy || !dependency.up) return;
        busy = true;
        const event = {
          version: '0',
          id: randomUUID(),
          'detail-type': 'Scheduled Event',
          source: 'aws.events',
          account: '000000000000',
          time: new Date().toISOString(),
          region: 'us-east-1',
          resources: [`arn:aws:events:local:000000000000:rule/${fn.name}`],
          detail: s.input ?? {},
        };
        const p = invoke(fn, handler, event)
          .catch((err) =>
            log('scheduled function failed', { function: fn.name, err: String(err?.stack ?? err) }),
          )
          .finally(() => {
            busy = false;
            inflight.delete(p);
          });
        inflight.add(p);
      };
      timers.push(setInterval(tick, Math.max(0.05, seconds) * 1000));
    }
  }
  return {
    intervals,
    async stop() {
      for (const t of timers) clearInterval(t);
      await Promise.allSettled([...inflight]);
    },
  };
}
