import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { type DynamoLocal, startDynamoLocal } from './runtime/dynamodb-local.ts';
import { createHttpServer } from './runtime/http-server.ts';
import { type AnyHandler, invoke, loadHandler } from './runtime/invoke.ts';
import { startLocalS3 } from './runtime/s3.ts';
import { type ScheduleOverride, startSchedules } from './runtime/schedules.ts';
import { type LocalFunction, loadServerless } from './runtime/serverless-config.ts';
import { StreamConsumer, StreamReader } from './runtime/streams.ts';
import { ensureTables, type LocalTable } from './runtime/tables.ts';

export interface StackOptions {
  /** State directory: DynamoDB Local data, tokens, pidfile. Required unless `dynamoEndpoint` is given. */
  home?: string;
  /** 0 = any free port. */
  port?: number;
  inMemory?: boolean;
  /** Port of the local S3 (s3rver) when a function has s3 events; 0 = any free port. */
  s3Port?: number;
  /** Use an already running DynamoDB Local (tests share one per run). */
  dynamoEndpoint?: string;
  tablePrefix?: string;
  /** Extra environment for the functions (timeouts, log level). */
  env?: Record<string, string>;
  /** Write admin.token / pilot.token under `home` (npm start). */
  bootstrapTokens?: boolean;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
}

export interface Stack {
  url: string;
  port: number;
  dynamoEndpoint: string;
  tablePrefix: string;
  tables: LocalTable[];
  tokens: { admin?: string; pilot?: string };
  functions: LocalFunction[];
  scheduleIntervals: Record<string, number>;
  streamReaders: StreamReader[];
  /** The local S3 endpoint (s3rver, path-style) when a function has s3 events. */
  s3Endpoint?: string;
  /** Invokes a function by its serverless.yml name with an event (S3 notifications, tests). */
  invoke(name: string, event: unknown): Promise<unknown>;
  stop(): Promise<void>;
}

const defaultLog = (msg: string, fields?: Record<string, unknown>) =>
  process.stderr.write(`${JSON.stringify({ t: new Date().toISOString(), level: 'warn', msg, ...fields })}\n`);

/**
 * Starts the whole p3s stack in this process: DynamoDB Local (unless given), the tables of
 * serverless.yml, every httpApi route, the stream consumers and the schedules — all running the
 * same handler modules as Lambda.
 */
export async function startStack(opts: StackOptions): Promise<Stack> {
  const log = opts.log ?? defaultLog;
  const model = loadServerless('local');
  const home = opts.home;
  if (home) mkdirSync(home, { recursive: true });

  let ddb: DynamoLocal | undefined;
  let endpoint = opts.dynamoEndpoint;
  if (!endpoint) {
    if (!home) throw new Error('startStack needs `home` or `dynamoEndpoint`');
    mkdirSync(join(home, 'logs'), { recursive: true });
    ddb = await startDynamoLocal({
      dataDir: opts.inMemory ? undefined : join(home, 'dynamodb'),
      pidfile: join(home, 'dynamodb.pid'),
      logFile: join(home, 'logs', 'dynamodb.log'),
    });
    endpoint = ddb.endpoint;
  }
  const tablePrefix = opts.tablePrefix ?? 'p3s-local';

  // Functions read their configuration once from the environment, like on Lambda.
  Object.assign(process.env, model.environment, opts.env ?? {}, {
    P3S_TABLE_PREFIX: tablePrefix,
    P3S_DYNAMODB_ENDPOINT: endpoint,
    P3S_STAGE: 'local',
    AWS_REGION: 'us-east-1',
  });
  // The reaper tells an outage from the gap between its runs, so it must know the local cadence.
  const reaperCadence = (model.custom.localSchedules as Record<string, ScheduleOverride> | undefined)?.reaper;
  if (!process.env.P3S_REAPER_INTERVAL && reaperCadence?.default)
    process.env.P3S_REAPER_INTERVAL = String(reaperCadence.default);

  const admin = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'p3slocal', secretAccessKey: 'p3slocal' },
  });
  const tables = await ensureTables(admin, model, tablePrefix);
  admin.destroy();

  const handlers = new Map<string, AnyHandler>();
  for (const fn of model.functions) handlers.set(fn.name, await loadHandler(fn));

  // The same module instances the handlers use: installs in-process wake-ups and the stream kick.
  const { dynamo } = await import('../shared/db/client.ts');
  const { inProcessWakeups, installWakeups, trackRequest } = await import('../shared/wakeups.ts');
  installWakeups(inProcessWakeups());

  const streams = new DynamoDBStreamsClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'p3slocal', secretAccessKey: 'p3slocal' },
  });
  // Writes made through the stack kick their table's reader, so their records are delivered at
  // once; the idle poll only catches what nobody kicks (TTL deletions, writes from outside).
  const IDLE_STREAM_POLL_MS = 250;
  const readers = new Map<string, StreamReader>();
  for (const fn of model.functions) {
    for (const src of fn.streams) {
      const t = tables.find((x) => x.logicalId === src.table);
      if (!t?.streamArn) throw new Error(`function ${fn.name}: table ${src.table} has no stream`);
      let reader = readers.get(t.streamArn);
      if (!reader) {
        reader = new StreamReader(streams, t.streamArn, log, IDLE_STREAM_POLL_MS);
        readers.set(t.streamArn, reader);
      }
      reader.consumers.push(new StreamConsumer(fn, src, handlers.get(fn.name)!, log));
    }
  }
  const pollers = [...readers.values()];
  await Promise.all(pollers.map((p) => p.start()));
  // Every write made by a function kicks the stream readers, so delivery does not wait for the
  // next idle poll: stream delay becomes DynamoDB Local's own (~1 ms) instead of the poll interval.
  const WRITES = new Set([
    'PutItemCommand',
    'UpdateItemCommand',
    'DeleteItemCommand',
    'TransactWriteItemsCommand',
    'BatchWriteItemCommand',
  ]);
  // Only the readers of the tables written are kicked (the stats table's writes wake nobody).
  const readerOf = new Map<string, StreamReader>();
  for (const t of tables) {
    const r = t.streamArn ? readers.get(t.streamArn) : undefined;
    if (r) readerOf.set(t.name, r);
  }
  dynamo().middlewareStack.add(
    (next, context) => async (args) => {
      const out = await next(args);
      if (WRITES.has(String(context.commandName)))
        for (const name of tablesWritten(args.input as Record<string, unknown>)) readerOf.get(name)?.kick();
      return out;
    },
    { step: 'initialize', name: 'p3sLocalStreamKick' },
  );

  // S3 notifications (s3rver) for functions with s3 events; objects under `home`, else a tmp dir.
  const s3 = await startLocalS3(
    model.functions.filter((f) => f.s3.length).map((fn) => ({ fn, handler: handlers.get(fn.name)! })),
    { directory: join(home ?? mkdtempSync(join(tmpdir(), 'p3s-s3-')), 's3'), port: opts.s3Port, log },
  );

  const schedules = startSchedules(
    model.functions.filter((f) => f.schedules.length).map((fn) => ({ fn, handler: handlers.get(fn.name)! })),
    (model.custom.localSchedules ?? {}) as Record<string, ScheduleOverride>,
    process.env,
    log,
  );

  const tokens: Stack['tokens'] = {};
  if (opts.bootstrapTokens && home) {
    const { createToken, verifyToken } = await import('../shared/db/tokens.ts');
    for (const role of ['admin', 'pilot'] as const) {
      const file = join(home, `${role}.token`);
      let tok = existsSync(file) ? readFileSync(file, 'utf8').trim() : '';
      if (!tok || !(await verifyToken(tok))) {
        tok = (await createToken({ role, name: `local ${role} (npm start)` })).token;
        writeFileSync(file, `${tok}\n`, { mode: 0o600 });
      }
      tokens[role] = tok;
    }
  }

  const server: Server = createHttpServer(
    model.functions.filter((f) => f.http.length).map((fn) => ({ fn, handler: handlers.get(fn.name)! })),
    (err) => log('http runtime error', { err: String(err) }),
    { trackRequest },
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  let stopping: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    dynamoEndpoint: endpoint,
    tablePrefix,
    tables,
    tokens,
    functions: model.functions,
    scheduleIntervals: schedules.intervals,
    s3Endpoint: s3?.endpoint,
    streamReaders: pollers,
    invoke: (name, event) => {
      const fn = model.functions.find((f) => f.name === name);
      if (!fn) throw new Error(`no function ${name}`);
      return invoke(fn, handlers.get(name)!, event);
    },
    stop() {
      stopping ??= (async () => {
        server.closeAllConnections?.();
        await new Promise<void>((r) => server.close(() => r()));
        await s3?.stop();
        await schedules.stop();
        await Promise.all(pollers.map((p) => p.stop()));
        streams.destroy();
        await ddb?.stop();
      })();
      return stopping;
    },
  };
}

/** The tables a write request names (TableName, a transaction's items, a batch's keys). */
function tablesWritten(input: Record<string, unknown>): string[] {
  if (typeof input.TableName === 'string') return [input.TableName];
  const items = input.TransactItems as Record<string, { TableName?: string }>[] | undefined;
  if (items) return items.flatMap((it) => Object.values(it).map((op) => op.TableName ?? ''));
  return Object.keys((input.RequestItems as object | undefined) ?? {});
}
