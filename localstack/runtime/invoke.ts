import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Context } from 'aws-lambda';
import { type LocalFunction, repoRoot } from './serverless-config.ts';

// biome-ignore lint/suspicious/noExplicitAny: handlers of every event type pass through here.
export type AnyHandler = (event: any, context: Context) => Promise<any>;

/** Imports a function's handler module (the same file Lambda runs) once. */
export async function loadHandler(fn: LocalFunction): Promise<AnyHandler> {
  const url = pathToFileURL(join(repoRoot, `${fn.module}.ts`)).href;
  const mod = (await import(url)) as Record<string, unknown>;
  const h = mod[fn.exportName];
  if (typeof h !== 'function') throw new Error(`${fn.module}.ts does not export ${fn.exportName}`);
  return h as AnyHandler;
}

/** A Lambda-shaped context object. */
function lambdaContext(fn: LocalFunction): Context {
  const started = Date.now();
  const requestId = randomUUID();
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: fn.name,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${fn.name}`,
    memoryLimitInMB: '512',
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${fn.name}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, fn.timeoutSec * 1000 - (Date.now() - started)),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

const running = new Map<string, { active: number; queue: (() => void)[] }>();

/** Waits for a free slot when the function has a reserved concurrency (as Lambda throttles). */
async function acquire(fn: LocalFunction): Promise<() => void> {
  const limit = fn.reservedConcurrency;
  if (!limit) return () => {};
  let slot = running.get(fn.name);
  if (!slot) {
    slot = { active: 0, queue: [] };
    running.set(fn.name, slot);
  }
  const s = slot;
  if (s.active >= limit) await new Promise<void>((r) => s.queue.push(r));
  s.active++;
  return () => {
    s.active--;
    s.queue.shift()?.();
  };
}

/** Runs a handler with the function's timeout and reserved concurrency, as Lambda would. */
export async function invoke(fn: LocalFunction, handler: AnyHandler, event: unknown): Promise<unknown> {
  const release = await acquire(fn);
  try {
    return await invokeNow(fn, handler, event);
  } finally {
    release();
  }
}

async function invokeNow(fn: LocalFunction, handler: AnyHandler, event: unknown): Promise<unknown> {
  const ctx = lambdaContext(fn);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${fn.name} timed out after ${fn.timeoutSec} s`)),
      fn.timeoutSec * 1000,
    );
  });
  try {
    return await Promise.race([handler(event, ctx), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
