import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AddressInfo, Server } from 'node:net';
import { encodeS3Key } from '../../shared/core/data/s3-event.ts';
import { type AnyHandler, invoke } from './invoke.ts';
import type { LocalFunction } from './serverless-config.ts';
import { alwaysUp, type Dependency } from './supervisor.ts';

/**
 * S3 on the local stack: one s3rver (npm) serving every bucket that a function of serverless.yml
 * subscribes to, and its notifications delivered to those functions the way S3 does on AWS —
 * filtered by event type and prefix/suffix rules (s3rver has no bucket filters), with the key
 * URL-encoded (s3rver sends raw keys; AWS encodes them, `+` for space), invoked asynchronously
 * with Lambda's two retries.
 */

interface S3rverInstance {
  configureBuckets(): Promise<void>;
  /** With a callback: creates its HTTP server, starts listening and returns the server at once. */
  listen(port: number, address: string, cb: () => void): Server;
  httpServer?: Server;
  close(): Promise<void>;
  on(event: 'event', cb: (e: { Records: S3Record[] }) => void): void;
}
type S3rverCtor = new (opts: Record<string, unknown>) => S3rverInstance;
interface S3Record {
  eventName: string;
  s3: { bucket: { name: string }; object: { key: string } & Record<string, unknown> };
}

export interface LocalS3 {
  endpoint: string;
  buckets: string[];
  stop(): Promise<void>;
}

interface Subscription {
  fn: LocalFunction;
  handler: AnyHandler;
  bucket: string;
  event: string;
  prefix: string;
  suffix: string;
}

const RETRIES = 2;

/** `s3:ObjectCreated:*` matches `ObjectCreated:Put`; `s3:ObjectCreated:Put` only that. */
function eventMatches(pattern: string, eventName: string): boolean {
  const p = pattern.replace(/^s3:/, '');
  return p.endsWith(':*') ? eventName.startsWith(p.slice(0, -1)) : eventName === p;
}

function subscriptions(fns: { fn: LocalFunction; handler: AnyHandler }[]): Subscription[] {
  const out: Subscription[] = [];
  for (const { fn, handler } of fns) {
    for (const s of fn.s3) {
      let prefix = '';
      let suffix = '';
      for (const r of (s.rules ?? []) as Record<string, unknown>[]) {
        if (typeof r.prefix === 'string') prefix = r.prefix;
        if (typeof r.suffix === 'string') suffix = r.suffix;
      }
      out.push({ fn, handler, bucket: s.bucket, event: s.event, prefix, suffix });
    }
  }
  return out;
}

/** Starts s3rver when some function has s3 events; undefined otherwise. */
export async function startLocalS3(
  fns: { fn: LocalFunction; handler: AnyHandler }[],
  opts: {
    directory: string;
    port?: number;
    log: (msg: string, f?: Record<string, unknown>) => void;
    /** DynamoDB: a delivery waits while it is down, and a failure during an outage is not a retry. */
    dependency?: Dependency;
  },
): Promise<LocalS3 | undefined> {
  const subs = subscriptions(fns);
  if (!subs.length) return undefined;
  const buckets = [...new Set(subs.map((s) => s.bucket))];
  mkdirSync(opts.directory, { recursive: true });
  const S3rver = createRequire(import.meta.url)('s3rver') as S3rverCtor;
  const server = new S3rver({
    address: '127.0.0.1',
    port: opts.port ?? 0,
    directory: opts.directory,
    silent: true,
    configureBuckets: buckets.map((name) => ({ name })),
  });
  const inflight = new Set<Promise<void>>();
  server.on('event', (e) => {
    for (const record of e.Records ?? []) {
      const key = record.s3.object.key;
      for (const s of subs) {
        if (record.s3.bucket.name !== s.bucket || !eventMatches(s.event, record.eventName)) continue;
        if (!key.startsWith(s.prefix) || !key.endsWith(s.suffix)) continue;
        const event = {
          Records: [
            { ...record, s3: { ...record.s3, object: { ...record.s3.object, key: encodeS3Key(key) } } },
          ],
        };
        const p = deliver(s, event, opts.log, opts.dependency ?? alwaysUp).finally(() => inflight.delete(p));
        inflight.add(p);
      }
    }
  });
  const addr = await run(server, opts.port ?? 0);
  return {
    endpoint: `http://127.0.0.1:${addr.port}`,
    buckets,
    async stop() {
      await server.close();
      await Promise.allSettled([...inflight]);
    },
  };
}

/**
 * What s3rver's `run()` does, except that a failure to listen (the port is taken) rejects with
 * the error, which names the port: `run()` listens without an error listener, so the error
 * crashed the process with a stack trace instead of reaching the caller.
 */
async function run(server: S3rverInstance, port: number): Promise<AddressInfo> {
  await server.configureBuckets();
  const http = await new Promise<Server>((resolve, reject) => {
    const h = server.listen(port, '127.0.0.1', () => {
      h.off('error', reject);
      resolve(h);
    });
    h.once('error', reject);
  });
  server.httpServer = http;
  return http.address() as AddressInfo;
}

async function deliver(
  s: Subscription,
  event: unknown,
  log: (msg: string, f?: Record<string, unknown>) => void,
  dependency: Dependency,
): Promise<void> {
  for (let attempt = 0; ; ) {
    await dependency.whenUp();
    const generation = dependency.generation;
    try {
      await invoke(s.fn, s.handler, event);
      return;
    } catch (err) {
      // Lambda retries an async invocation after about a minute; locally a short pause will do.
      await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
      // The outage's failure, not the function's (unless DynamoDB Local is gone for good).
      if (!dependency.gone && (dependency.generation !== generation || !dependency.up)) continue;
      if (attempt++ >= RETRIES) {
        log('s3 event dropped after retries', {
          level: 'error',
          function: s.fn.name,
          err: String((err as Error)?.stack ?? err),
        });
        return;
      }
    }
  }
}
