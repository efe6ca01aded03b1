/**
 * Fault-injection helpers: the stack as a separate process that can be stopped and started
 * again over the same tables, and direct reads of the tables to assert what a fault left.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { dropTables } from '../../localstack/runtime/tables.ts';

const root = join(import.meta.dirname, '..', '..');

/** Direct access to a test stack's tables (consistent reads). */
export class Tables {
  readonly client: DynamoDBClient;
  readonly doc: DynamoDBDocumentClient;
  constructor(
    readonly endpoint: string,
    readonly prefix: string,
  ) {
    this.client = new DynamoDBClient({
      endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'p3slocal', secretAccessKey: 'p3slocal' },
    });
    this.doc = DynamoDBDocumentClient.from(this.client);
  }

  async scan(entity: string): Promise<any[]> {
    const out: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const r = await this.doc.send(
        new ScanCommand({
          TableName: `${this.prefix}-${entity}`,
          ExclusiveStartKey: start,
          ConsistentRead: true,
        }),
      );
      out.push(...(r.Items ?? []));
      start = r.LastEvaluatedKey;
    } while (start);
    return out;
  }

  async get(entity: string, key: Record<string, unknown>): Promise<any> {
    const r = await this.doc.send(
      new GetCommand({ TableName: `${this.prefix}-${entity}`, Key: key, ConsistentRead: true }),
    );
    return r.Item;
  }

  /** In-flight jobs per type, counted from the jobs table (the truth the counters must match). */
  async inFlightByType(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const j of await this.scan('jobs'))
      if (j.state === 'dispatched' || j.state === 'running')
        out.set(j.jobtype, (out.get(j.jobtype) ?? 0) + 1);
    return out;
  }

  /** Asserts nothing: returns, per type, [counter, truth] where they differ. */
  async counterDrift(): Promise<Record<string, [number, number]>> {
    const truth = await this.inFlightByType();
    const drift: Record<string, [number, number]> = {};
    for (const t of await this.scan('jobtypes')) {
      const n = Number(t.inFlight ?? 0);
      const want = truth.get(t.name) ?? 0;
      if (n !== want) drift[t.name] = [n, want];
    }
    return drift;
  }

  async drop(): Promise<void> {
    await dropTables(this.client, this.prefix);
    this.client.destroy();
  }
}

export interface StackProc {
  url: string;
  port: number;
  home: string;
  prefix: string;
  adminToken: string;
  pilotToken: string;
  child: ChildProcess;
  log(): string;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
}

/**
 * Starts the stack (test/helpers/stack-main.ts) as a process of its own on the run's DynamoDB
 * Local. Give the same `prefix`, `home` and `port` to start it again over the same state.
 */
export async function startStackProc(
  opts: { prefix?: string; home?: string; port?: number; env?: Record<string, string> } = {},
): Promise<StackProc> {
  const endpoint = process.env.P3S_TEST_DYNAMODB_ENDPOINT;
  if (!endpoint) throw new Error('P3S_TEST_DYNAMODB_ENDPOINT is not set: run tests with `npm test`');
  const prefix = opts.prefix ?? `t${randomBytes(4).toString('hex')}`;
  const home = opts.home ?? mkdtempSync(join(tmpdir(), 'p3s-chaos-'));
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--disable-warning=NodeVersionSupportWarning',
      join(root, 'test', 'helpers', 'stack-main.ts'),
    ],
    {
      cwd: root,
      env: {
        ...process.env,
        P3S_TEST_TABLE_PREFIX: prefix,
        P3S_HOME: home,
        P3S_PORT: String(opts.port ?? 0),
        P3S_LOG_LEVEL: process.env.P3S_TEST_VERBOSE ? 'info' : 'warn',
        ...opts.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stderr!.on('data', (d) => {
    out += d;
    if (process.env.P3S_TEST_VERBOSE) process.stderr.write(d);
  });
  const url = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d) => {
      buf += d;
      const m = /ready (\S+)/.exec(buf);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`stack exited (${code}) before it was ready:\n${out}`)));
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    url,
    port: Number(new URL(url).port),
    home,
    prefix,
    adminToken: readFileSync(join(home, 'admin.token'), 'utf8').trim(),
    pilotToken: readFileSync(join(home, 'pilot.token'), 'utf8').trim(),
    child,
    log: () => out,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Calls the API of a stack process; returns status and parsed body. */
export async function api(
  s: { url: string; adminToken: string },
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: any }> {
  const res = await fetch(`${s.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${s.adminToken}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {}
  return { status: res.status, body: parsed };
}
