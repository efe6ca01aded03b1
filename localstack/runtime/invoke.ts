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
export function lambdaContext(fn: LocalFunction): Context {
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

/** Runs a handler with the function's timeout, as Lambda would. */
export async function invoke(fn: LocalFunction, handler: AnyHandler, event: unknown): Promise<unknown> {
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
