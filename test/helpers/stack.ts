import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { dropTables } from '../../localstack/runtime/tables.ts';
import { type Stack, startStack } from '../../localstack/stack.ts';

export interface TestStack extends Stack {
  home: string;
  adminToken: string;
  pilotToken: string;
  /** Calls the API; returns status and parsed body, never throws on 4xx/5xx. */
  call(
    method: string,
    path: string,
    opts?: {
      token?: string | null;
      body?: unknown;
      /** A body sent as is (as application/json unless `headers` names a content-type). */
      raw?: string;
      headers?: Record<string, string>;
    },
  ): Promise<{ status: number; body: any; headers: Headers }>;
  close(): Promise<void>;
}

/**
 * Starts the local stack in this test process on the run's shared DynamoDB Local, with tables of
 * its own (random prefix) that `close()` drops.
 */
export async function startTestStack(env: Record<string, string> = {}): Promise<TestStack> {
  const endpoint = process.env.P3S_TEST_DYNAMODB_ENDPOINT;
  if (!endpoint) throw new Error('P3S_TEST_DYNAMODB_ENDPOINT is not set: run tests with `npm test`');
  const tablePrefix = `t${randomBytes(4).toString('hex')}`;
  const home = mkdtempSync(join(tmpdir(), 'p3s-test-'));
  const stack = await startStack({
    home,
    dynamoEndpoint: endpoint,
    tablePrefix,
    bootstrapTokens: true,
    env: { P3S_LOG_LEVEL: process.env.P3S_LOG_LEVEL ?? 'error', ...env },
    log: process.env.P3S_TEST_VERBOSE
      ? (msg, f) => process.stderr.write(`${JSON.stringify({ msg, ...f })}\n`)
      : () => {},
  });
  const adminToken = stack.tokens.admin!;
  const pilotToken = stack.tokens.pilot!;
  const call: TestStack['call'] = async (method, path, opts = {}) => {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    const token = opts.token === undefined ? adminToken : opts.token;
    if (token) headers.authorization = `Bearer ${token}`;
    let body: string | undefined = opts.raw;
    // Raw text is JSON text too, unless the test names another type.
    if (opts.raw !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type'))
      headers['content-type'] = 'application/json';
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['content-type'] = 'application/json';
    }
    const res = await fetch(`${stack.url}${path}`, { method, headers, body });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {}
    return { status: res.status, body: parsed, headers: res.headers };
  };
  return {
    ...stack,
    home,
    adminToken,
    pilotToken,
    call,
    async close() {
      await stack.stop();
      const c = new DynamoDBClient({
        endpoint,
        region: 'us-east-1',
        credentials: { accessKeyId: 'p3slocal', secretAccessKey: 'p3slocal' },
      });
      await dropTables(c, tablePrefix);
      c.destroy();
    },
  };
}

/** Polls `check` until it returns a truthy value or the deadline passes (no sleeps as synchronisation). */
export async function waitFor<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const until = Date.now() + (opts.timeoutMs ?? 10_000);
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until)
      throw new Error(`timed out waiting for ${opts.what ?? 'condition'}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 20));
  }
}

/**
 * Whether the stack's stream functions are done: every reader rests in its idle poll with no
 * kick pending and nothing waiting for or in delivery. Writes made through the stack kick their
 * reader before the write returns, so once the writes of a step have returned, idle means their
 * records (and whatever the functions wrote in turn) have been handled.
 */
export function streamsIdle(s: Pick<TestStack, 'streamReaders'>): boolean {
  return s.streamReaders.every((r) => r.idle);
}
