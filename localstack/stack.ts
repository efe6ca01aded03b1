import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import type { HealthProblem } from '../shared/health.ts';
import { repeatLimiter } from '../shared/log.ts';
import { CheckpointFile } from './runtime/checkpoints.ts';
import { startDynamoLocal } from './runtime/dynamodb-local.ts';
import { createHttpServer } from './runtime/http-server.ts';
import { type AnyHandler, invoke, loadHandler } from './runtime/invoke.ts';
import { startLocalS3 } from './runtime/s3.ts';
import { type ScheduleOverride, startSchedules } from './runtime/schedules.ts';
import { type LocalFunction, loadServerless } from './runtime/serverless-config.ts';
import { StreamConsumer, StreamReader } from './runtime/streams.ts';
import { alwaysUp, type Dependency, DynamoSupervisor } from './runtime/supervisor.ts';
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
  /** Where the runtime's own log lines go (default: JSON lines on stderr); repeats are collapsed. */
  log?: (msg: string, fields?: Record<string, unknown>) => void;
  /**
   * DynamoDB Local died and will not come back (it ran in memory, or keeps crashing): the
   * stack is of no use any more. Default: print the message, stop, exit 1.
   */
  onFatal?: (message: string) => void;
  /** Longest a clean stop waits for the stream consumers to drain (default 5000 ms). */
  drainMs?: number;
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
  /** Where the stream consumers' checkpoints are kept (undefined: in memory). */
  checkpointDir?: string;
  /** What is broken right now (what `/healthz` reports besides its own probe). */
  problems(): HealthProblem[];
  /** The local S3 endpoint (s3rver, path-style) when a function has s3 events. */
  s3Endpoint?: string;
  /** Invokes a function by its serverless.yml name with an event (S3 notifications, tests). */
  invoke(name: string, event: unknown): Promise<unknown>;
  stop(): Promise<void>;
}

const defaultLog = (msg: string, fields?: Record<string, unknown>) =>
  process.stderr.write(`${JSON.stringify({ t: fields?.t, level: fields?.level, msg, ...fields })}\n`);

/**
 * Starts the whole p3s stack in this process: DynamoDB Local (unless given), the tables of
 * serverless.yml, every httpApi route, the stream consumers and the schedules — all running the
 * same handler modules as Lambda.
 */
export async function startStack(opts: StackOptions): Promise<Stack> {
  const sink = opts.log ?? defaultLog;
  const limited = repeatLimiter(({ msg, ...fields }) => sink(msg, fields));
  /** Runtime log lines: warnings unless `fields.level` says otherwise; repeats are collapsed. */
  const log = (msg: string, fields?: Record<string, unknown>) =>
    limited({ t: new Date().toISOString(), level: 'warn', msg, ...fields });
  const model = loadServerless('local');
  const home = opts.home;
  if (home) mkdirSync(home, { recursive: true });

  let stack: Stack | undefined;
  const onFatal =
    opts.onFatal ??
    ((message: string) => {
      process.stderr.write(`${message}\n`);
      void (stack?.stop() ?? Promise.resolve()).finally(() => process.exit(1));
    });

  let supervisor: DynamoSupervisor | undefined;
  let endpoint = opts.dynamoEndpoint;
  if (!endpoint) {
    if (!home) throw new Error('startStack needs `home` or `dynamoEndpoint`');
    mkdirSync(join(home, 'logs'), { recursive: true });
    const ddbOpts = {
      dataDir: opts.inMemory ? undefined : join(home, 'dynamodb'),
      pidfile: join(home, 'dynamodb.pid'),
      logFile: join(home, 'logs', 'dynamodb.log'),
    };
    supervisor = new DynamoSupervisor(await startDynamoLocal(ddbOpts), {
      ...ddbOpts,
      start: (port) => startDynamoLocal({ ...ddbOpts, port }),
      log,
      onFatal,
    });
    endpoint = supervisor.endpoint;
  }
  const dynamodb: Dependency = supervisor ?? alwaysUp;
  // What to stop when the start fails part-way (a port in use), so nothing is left running.
  const started: (() => Promise<unknown>)[] = [];
  if (supervisor) started.push(() => supervisor.stop());
  try {
    const tablePrefix = opts.tablePrefix ?? 'p3s-local';

    // Functions read their configuration once from the environment, like on Lambda. Locally a
    // held poll costs nothing, so idle pilots long-poll, for up to 90 s (serverless.yml's
    // `custom.localTimeouts`), unless the user chose otherwise (serverless.yml paces them on AWS).
    const local = {
      P3S_POLL_MODE: process.env.P3S_POLL_MODE ?? 'long',
      P3S_LONGPOLL_MAX: process.env.P3S_LONGPOLL_MAX ?? '90',
    };
    Object.assign(process.env, model.environment, local, opts.env ?? {}, {
      P3S_TABLE_PREFIX: tablePrefix,
      P3S_DYNAMODB_ENDPOINT: endpoint,
      P3S_STAGE: 'local',
      AWS_REGION: 'us-east-1',
    });
    // The reaper tells an outage from the gap between its runs, so it must know the local cadence.
    const reaperCadence = (model.custom.localSchedules as Record<string, ScheduleOverride> | undefined)
      ?.reaper;
    if (!process.env.P3S_REAPER_INTERVAL && reaperCadence?.default)
      process.env.P3S_REAPER_INTERVAL = String(reaperCadence.default);

    const admin = new DynamoDBClient({
      endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'p3slocal', secretAccessKey: 'p3slocal' },
    });
    const tables = await ensureTables(admin, model, tablePrefix);

    const handlers = new Map<string, AnyHandler>();
    for (const fn of model.functions) handlers.set(fn.name, await loadHandler(fn));

    // The same module instances the handlers use: installs in-process wake-ups, the stream kick
    // and the health probe.
    const { dynamo, isQuiet } = await import('../shared/db/client.ts');
    const { inProcessWakeups, installWakeups, trackRequest } = await import('../shared/wakeups.ts');
    const { installHealthProbe } = await import('../shared/health.ts');
    installWakeups(inProcessWakeups());

    const streams = new DynamoDBStreamsClient({
      endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'p3slocal', secretAccessKey: 'p3slocal' },
    });
    // Writes made through the stack kick their table's reader, so their records are delivered at
    // once; the idle poll only catches what nobody kicks (TTL deletions, writes from outside, and
    // `quietly` writes: an idle pilot's repeated poll, a heartbeat — shared/db/client.ts). Once a
    // second: reading six streams every 250 ms was half the stack's CPU at rest.
    const IDLE_STREAM_POLL_MS = 1000;
    // Each consumer's position, as Lambda's event source mappings keep theirs (in memory when the
    // data is: a restart of an in-memory stack starts from empty tables anyway).
    const checkpointDir = home && !opts.inMemory ? join(home, 'streams') : undefined;
    const readers = new Map<string, StreamReader>();
    for (const fn of model.functions) {
      for (const src of fn.streams) {
        const t = tables.find((x) => x.logicalId === src.table);
        if (!t?.streamArn) throw new Error(`function ${fn.name}: table ${src.table} has no stream`);
        let reader = readers.get(t.streamArn);
        if (!reader) {
          const currentArn = async () =>
            (await admin.send(new DescribeTableCommand({ TableName: t.name }))).Table?.LatestStreamArn;
          reader = new StreamReader(
            streams,
            t.streamArn,
            t.entity,
            log,
            IDLE_STREAM_POLL_MS,
            dynamodb,
            currentArn,
          );
          readers.set(t.streamArn, reader);
        }
        const checkpoint = new CheckpointFile(
          checkpointDir && join(checkpointDir, `${fn.name}.${t.entity}.json`),
        );
        reader.consumers.push(new StreamConsumer(fn, src, handlers.get(fn.name)!, log, checkpoint, dynamodb));
      }
    }
    const pollers = [...readers.values()];
    started.push(() => Promise.all(pollers.map((p) => p.stop())));
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
        if (WRITES.has(String(context.commandName)) && !isQuiet())
          for (const name of tablesWritten(args.input as Record<string, unknown>)) readerOf.get(name)?.kick();
        return out;
      },
      // override: a later stack in the same process (tests) takes the kick over.
      { step: 'initialize', name: 'p3sLocalStreamKick', override: true },
    );

    // S3 notifications (s3rver) for functions with s3 events; objects under `home`, else a tmp dir.
    const s3 = await startLocalS3(
      model.functions.filter((f) => f.s3.length).map((fn) => ({ fn, handler: handlers.get(fn.name)! })),
      {
        directory: join(home ?? mkdtempSync(join(tmpdir(), 'p3s-s3-')), 's3'),
        port: opts.s3Port,
        log,
        dependency: dynamodb,
      },
    );

    if (s3) started.push(() => s3.stop());
    const schedules = startSchedules(
      model.functions
        .filter((f) => f.schedules.length)
        .map((fn) => ({ fn, handler: handlers.get(fn.name)! })),
      (model.custom.localSchedules ?? {}) as Record<string, ScheduleOverride>,
      process.env,
      log,
      dynamodb,
    );
    started.push(() => schedules.stop());

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

    const problems = (): HealthProblem[] =>
      [supervisor?.problem(), ...pollers.map((p) => p.problem())].filter((p) => p !== undefined);
    installHealthProbe(problems);

    // While DynamoDB Local is down every route would fail with a 500 that names nothing: answer
    // 503 saying why instead (the health check still runs, to report the parts).
    const health = model.functions.find((f) => f.http.some((h) => h.path === '/healthz'))?.name;
    const server: Server = createHttpServer(
      model.functions.filter((f) => f.http.length).map((fn) => ({ fn, handler: handlers.get(fn.name)! })),
      (err) => log('http runtime error', { err: String(err) }),
      {
        trackRequest,
        unavailable: (fn) => (fn.name === health ? undefined : supervisor?.problem()?.message),
      },
    );
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
    });
    const port = (server.address() as AddressInfo).port;

    /**
     * A clean stop delivers what is already in the streams: rounds of read-everything-and-handle
     * until a round finds nothing (handlers write, and their writes are stream records too), within
     * `drainMs`; what is left is delivered at the next start (the checkpoints say where).
     */
    const drain = async () => {
      const until = Date.now() + (opts.drainMs ?? 5000);
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((r) => {
        timer = setTimeout(() => r('late'), Math.max(0, until - Date.now()));
      });
      try {
        for (;;) {
          const round = await Promise.race([Promise.all(pollers.map((p) => p.drain())), late]);
          if (round === 'late') {
            log('stop: the streams did not drain in time; the rest is delivered at the next start');
            break;
          }
          if (round.every((n) => n === 0)) break;
        }
      } catch (err) {
        log('stop: draining the streams failed; the rest is delivered at the next start', {
          err: String(err),
        });
      } finally {
        clearTimeout(timer);
      }
    };

    started.push(async () => server.close());
    let stopping: Promise<void> | undefined;
    stack = {
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
      checkpointDir,
      problems,
      invoke: (name, event) => {
        const fn = model.functions.find((f) => f.name === name);
        if (!fn) throw new Error(`no function ${name}`);
        return invoke(fn, handlers.get(name)!, event);
      },
      stop() {
        stopping ??= (async () => {
          // DynamoDB Local down (restarting, or gone for good): nothing can be handled now. Stop
          // it too, at once; what is in the streams is delivered at the next start.
          const down = !dynamodb.up;
          const stoppingDb = down ? supervisor?.stop() : undefined;
          server.closeAllConnections?.();
          await new Promise<void>((r) => server.close(() => r()));
          await s3?.stop();
          await schedules.stop();
          await Promise.all(pollers.map((p) => p.stop()));
          if (!down) await drain();
          installHealthProbe(() => []);
          streams.destroy();
          admin.destroy();
          await (stoppingDb ?? supervisor?.stop());
          limited.flush();
        })();
        return stopping;
      },
    };
    return stack;
  } catch (err) {
    for (const stop of started.reverse()) await stop().catch(() => {});
    throw err;
  }
}

/** The tables a write request names (TableName, a transaction's items, a batch's keys). */
function tablesWritten(input: Record<string, unknown>): string[] {
  if (typeof input.TableName === 'string') return [input.TableName];
  const items = input.TransactItems as Record<string, { TableName?: string }>[] | undefined;
  if (items) return items.flatMap((it) => Object.values(it).map((op) => op.TableName ?? ''));
  return Object.keys((input.RequestItems as object | undefined) ?? {});
}
