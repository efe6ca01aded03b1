import {
  type _Record,
  DescribeStreamCommand,
  type DynamoDBStreamsClient,
  GetRecordsCommand,
  type GetRecordsCommandOutput,
  GetShardIteratorCommand,
} from '@aws-sdk/client-dynamodb-streams';
import type { DynamoDBRecord } from 'aws-lambda';
import type { HealthProblem } from '../../shared/health.ts';
import { type Checkpoint, CheckpointFile, compareSeq } from './checkpoints.ts';
import { type AnyHandler, invoke } from './invoke.ts';
import type { LocalFunction, StreamSource } from './serverless-config.ts';
import { alwaysUp, type Dependency } from './supervisor.ts';

export interface StreamStats {
  delivered: number;
  batches: number;
  failedBatches: number;
  droppedRecords: number;
  /** Milliseconds from GetRecords seeing a record to its handler starting, last 1000. */
  lagMs: number[];
}

type Json = Record<string, unknown>;

/** Minimal EventBridge-style filter matching (the subset Lambda event filtering uses). */
export function matchesFilter(pattern: unknown, value: unknown): boolean {
  if (Array.isArray(pattern)) {
    return pattern.some((p) => {
      if (p && typeof p === 'object') {
        const o = p as Json;
        if ('exists' in o) return o.exists ? value !== undefined : value === undefined;
        if ('prefix' in o) return typeof value === 'string' && value.startsWith(String(o.prefix));
        if ('anything-but' in o) {
          // As on AWS: anything-but never matches a missing field.
          if (value === undefined) return false;
          const ab = o['anything-but'];
          return Array.isArray(ab) ? !ab.includes(value as never) : value !== ab;
        }
        return false;
      }
      return p === value;
    });
  }
  if (pattern && typeof pattern === 'object') {
    return Object.entries(pattern as Json).every(([k, p]) =>
      matchesFilter(p, (value as Json | undefined)?.[k]),
    );
  }
  return pattern === value;
}

function passes(src: StreamSource, record: DynamoDBRecord): boolean {
  if (!src.filterPatterns.length) return true;
  return src.filterPatterns.some((fp) => {
    const pattern = (fp as Json).pattern;
    const p = typeof pattern === 'string' ? JSON.parse(pattern) : (pattern ?? fp);
    return matchesFilter(p, record);
  });
}

/**
 * The SDK's streams client deserialises an empty map attribute (`{"M":{}}`) as `{}`, which
 * Lambda never sends and `unmarshall` rejects. Restore it (an empty list shows the same way;
 * p3s stores no empty lists in streamed tables).
 */
function repairImage(img: unknown): unknown {
  if (!img || typeof img !== 'object') return img;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(img as Json)) out[k] = repairValue(v);
  return out;
}

function repairValue(v: unknown): unknown {
  if (!v || typeof v !== 'object') return v;
  const o = v as Json;
  const keys = Object.keys(o);
  if (keys.length === 0) return { M: {} };
  if (keys.length === 1 && keys[0] === 'M') return { M: repairImage(o.M) };
  if (keys.length === 1 && keys[0] === 'L') return { L: (o.L as unknown[]).map(repairValue) };
  return v;
}

function toLambdaRecord(r: _Record, arn: string): DynamoDBRecord {
  const d = r.dynamodb ?? {};
  // DynamoDB Local reports TTL deletions with an eventName the SDK does not know.
  const eventName =
    r.eventName === 'INSERT' || r.eventName === 'MODIFY' || r.eventName === 'REMOVE' ? r.eventName : 'REMOVE';
  return {
    eventID: r.eventID,
    eventName,
    eventVersion: '1.1',
    eventSource: 'aws:dynamodb',
    awsRegion: 'us-east-1',
    eventSourceARN: arn,
    dynamodb: {
      ApproximateCreationDateTime: d.ApproximateCreationDateTime
        ? Math.floor(new Date(d.ApproximateCreationDateTime).getTime() / 1000)
        : undefined,
      Keys: d.Keys as never,
      NewImage: repairImage(d.NewImage) as never,
      OldImage: repairImage(d.OldImage) as never,
      SequenceNumber: d.SequenceNumber,
      SizeBytes: d.SizeBytes,
      StreamViewType: d.StreamViewType,
    },
  } as DynamoDBRecord;
}

interface Pending {
  record: DynamoDBRecord;
  shard: string;
  seq: string;
  /** When the reader saw it (for the lag statistics). */
  seen: number;
}

type Log = (msg: string, fields?: Json) => void;

/** How a consumer starts: from its checkpoint, or (without one) where Lambda's LATEST would. */
export type Resume = 'checkpoint' | 'fresh' | 'new-stream';

/**
 * Delivers one table's stream records to one function with Lambda's batch semantics: batches
 * of at most `batchSize`, one batch at a time, partial batch failure (retry from the first
 * failed record), at most `maximumRetryAttempts` retries, then the records are dropped and
 * logged (Lambda's on-failure destination).
 *
 * Like an event source mapping it keeps a checkpoint per shard — the last record done with —
 * written after each batch, so a restart delivers everything after it again: at least once.
 * A failure while DynamoDB Local is down (or restarting) is the outage's: the batch waits for
 * it to be back and is retried without spending one of its retries.
 */
export class StreamConsumer {
  readonly stats: StreamStats = { delivered: 0, batches: 0, failedBatches: 0, droppedRecords: 0, lagMs: [] };
  private pending: Pending[] = [];
  private running?: Promise<void>;
  private streamArn = '';
  /** Per shard: everything up to this sequence number is done with (the checkpoint). */
  private done = new Map<string, string>();
  /** Per shard: the last record pushed, filtered out or not. */
  private seen = new Map<string, string>();
  /** After a restart: the batch that was in flight, delivered first and alone. */
  private replay?: Map<string, string>;
  private dirty = false;
  private saveTimer?: NodeJS.Timeout;
  private abandoned = false;

  constructor(
    readonly fn: LocalFunction,
    private src: StreamSource,
    private handler: AnyHandler,
    private log: Log,
    private checkpoint: CheckpointFile = new CheckpointFile(),
    private dependency: Dependency = alwaysUp,
  ) {}

  /** The table's logical id (JobsTable), for messages. */
  get table(): string {
    return this.src.table;
  }

  /** Reads the checkpoint for `streamArn`; says whether the consumer resumes from it. */
  load(streamArn: string): Resume {
    this.streamArn = streamArn;
    this.done.clear();
    this.seen.clear();
    this.replay = undefined;
    const c = this.checkpoint.load();
    if (!c) return 'fresh';
    if (c.streamArn !== streamArn) return 'new-stream';
    for (const [shard, seq] of Object.entries(c.shards)) this.done.set(shard, seq);
    if (c.inflight && Object.keys(c.inflight).length) this.replay = new Map(Object.entries(c.inflight));
    return 'checkpoint';
  }

  /** Where this consumer resumes in a shard: after this sequence number, or (undefined) at its start. */
  position(shard: string): string | undefined {
    return this.done.get(shard);
  }

  /** Shards of the checkpoint, for the reader to check they are still in the stream. */
  shards(): string[] {
    return [...this.done.keys()];
  }

  /** A first start, like Lambda's LATEST: the records already in the shard are not this consumer's. */
  startAfter(shard: string, seq: string): void {
    this.done.set(shard, seq);
  }

  /** The checkpoint's records of `shard` cannot be read any more (reported by the reader). */
  forget(shard: string): void {
    this.done.delete(shard);
  }

  push(record: DynamoDBRecord, shard: string, seen: number): void {
    if (this.abandoned) return;
    const seq = record.dynamodb?.SequenceNumber ?? '0';
    const done = this.done.get(shard);
    if (done !== undefined && compareSeq(seq, done) <= 0) return; // handled before a restart
    this.seen.set(shard, seq);
    if (!passes(this.src, record)) {
      // Nothing before it is waiting: the checkpoint may move past it (written lazily).
      if (!this.pending.length && !this.running) {
        this.done.set(shard, seq);
        this.saveSoon();
      }
      if (this.replay && this.replayReady()) this.windowDone?.();
      return;
    }
    this.pending.push({ record, shard, seq, seen });
    if (this.pending.length >= this.src.batchSize || (this.replay && this.replayReady())) this.windowDone?.();
    this.running ??= this.deliver().finally(() => {
      this.running = undefined;
      if (this.pending.length) this.running = this.deliver().finally(() => (this.running = undefined));
    });
  }

  /** Nothing waits for delivery and no batch is being delivered (tests wait on it). */
  get idle(): boolean {
    return !this.running && !this.pending.length;
  }

  /** Ends the batching window early (a full batch, the replayed batch complete, a stop). */
  private windowDone?: () => void;
  private stopping = false;

  /** For a stop: delivers what is pending at once (no more batching window), waits, saves. */
  async finish(): Promise<void> {
    this.stopping = true;
    this.windowDone?.();
    while (this.running) await this.running;
    if (this.dirty) this.save();
  }

  /** Records handed to the function so far (a drain stops when a round delivered none). */
  get handled(): number {
    return this.stats.delivered + this.stats.droppedRecords;
  }

  /** Every record of the replayed batch has been read again. */
  private replayReady(): boolean {
    for (const [shard, last] of this.replay ?? []) {
      const seen = this.seen.get(shard);
      if (seen === undefined || compareSeq(seen, last) < 0) return false;
    }
    return true;
  }

  /**
   * Lambda's batching window: records are gathered until `batchWindow` seconds have passed since
   * the first one, or a batch is full, before the function is invoked. A replayed batch waits
   * until all of its records have been read again (at most a few seconds).
   */
  private async gather(): Promise<void> {
    let left: number;
    if (this.replay) {
      if (this.replayReady()) return;
      left = 3000;
    } else {
      const windowMs = this.src.batchWindow * 1000;
      if (windowMs <= 0 || this.stopping || this.pending.length >= this.src.batchSize) return;
      left = this.pending[0]!.seen + windowMs - Date.now();
      if (left <= 0) return;
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, left);
      this.windowDone = () => {
        clearTimeout(t);
        resolve();
      };
    });
    this.windowDone = undefined;
  }

  private takeBatch(): Pending[] {
    let n = Math.min(this.pending.length, this.src.batchSize);
    if (this.replay) {
      const upTo = this.replay;
      this.replay = undefined;
      const beyond = this.pending.findIndex((p) => {
        const last = upTo.get(p.shard);
        return last === undefined || compareSeq(p.seq, last) > 0;
      });
      if (beyond > 0) n = Math.min(n, beyond);
    }
    const batch = this.pending.slice(0, n);
    this.pending = this.pending.slice(n);
    return batch;
  }

  /** Stops delivering, leaving the checkpoint where it is (see deliver). */
  private abandon(): void {
    this.abandoned = true;
    this.pending = [];
  }

  private async deliver(): Promise<void> {
    while (this.pending.length && !this.abandoned) {
      await this.gather();
      let todo = this.takeBatch();
      this.save(todo);
      let attempt = 0;
      for (;;) {
        await this.dependency.whenUp();
        if (this.dependency.gone && !this.dependency.up) return this.abandon();
        const generation = this.dependency.generation;
        const started = Date.now();
        for (const b of todo) {
          this.stats.lagMs.push(started - b.seen);
          if (this.stats.lagMs.length > 1000) this.stats.lagMs.shift();
        }
        let failedFrom = -1;
        try {
          const res = (await invoke(this.fn, this.handler, { Records: todo.map((b) => b.record) })) as
            | { batchItemFailures?: { itemIdentifier: string }[] }
            | undefined;
          const failures = this.src.reportBatchItemFailures ? (res?.batchItemFailures ?? []) : [];
          if (failures.length) {
            const ids = new Set(failures.map((f) => f.itemIdentifier));
            failedFrom = todo.findIndex((b) => ids.has(b.seq));
            if (failedFrom < 0) failedFrom = 0;
          }
        } catch (err) {
          this.log('stream handler failed', {
            function: this.fn.name,
            err: String((err as Error)?.stack ?? err),
          });
          failedFrom = 0;
        }
        this.stats.batches++;
        if (failedFrom < 0) {
          this.stats.delivered += todo.length;
          break;
        }
        this.stats.failedBatches++;
        this.stats.delivered += failedFrom;
        if (failedFrom > 0) {
          // Lambda checkpoints the records before the first failure and retries from there.
          this.advance(todo.slice(0, failedFrom), todo.slice(failedFrom));
          todo = todo.slice(failedFrom);
          this.save(todo);
        }
        // A short backoff, which also lets the news of an outage arrive before the verdict.
        await new Promise((r) => setTimeout(r, 100 * 2 ** Math.min(attempt, 4)));
        // DynamoDB Local gone for good, or the stack stopping with it down: no verdict, no
        // checkpoint — these records are delivered at the next start.
        if (this.dependency.gone) return this.abandon();
        if (this.dependency.generation !== generation || !this.dependency.up) {
          this.log('stream batch failed while DynamoDB Local was down: retrying it once it is back', {
            function: this.fn.name,
          });
          continue;
        }
        if (attempt++ >= this.src.maximumRetryAttempts) {
          this.stats.droppedRecords += todo.length;
          this.log('stream batch dropped after retries', {
            level: 'error',
            function: this.fn.name,
            records: todo.map((b) => b.seq),
          });
          break;
        }
      }
      this.advance(todo);
      this.save();
    }
  }

  /**
   * These records are done with; of a shard with nothing left to deliver (pending, or `open`:
   * the rest of a batch being retried), so is everything seen.
   */
  private advance(handled: Pending[], open: Pending[] = []): void {
    for (const b of handled) this.done.set(b.shard, b.seq);
    const waiting = new Set([...this.pending, ...open].map((p) => p.shard));
    for (const [shard, seq] of this.seen) if (!waiting.has(shard)) this.done.set(shard, seq);
  }

  private saveSoon(): void {
    this.dirty = true;
    this.saveTimer ??= setTimeout(() => {
      this.saveTimer = undefined;
      if (this.dirty) this.save();
    }, 1000).unref();
  }

  /** Writes the checkpoint; `inflight`: the batch about to be handed to the function. */
  save(inflight?: Pending[]): void {
    this.dirty = false;
    const c: Checkpoint = { streamArn: this.streamArn, shards: Object.fromEntries(this.done) };
    if (inflight?.length) {
      c.inflight = {};
      for (const b of inflight) c.inflight[b.shard] = b.seq;
    }
    this.checkpoint.save(c);
  }
}

/**
 * Reads one table's stream (one reader per table, shared by every function that listens to it;
 * on AWS each function has its own poller, which changes cost, not semantics). `kick()` makes it
 * read at once — the local stack kicks after every write its functions make, so delivery does not
 * wait for the idle interval; bursts of kicks coalesce into one read.
 *
 * It starts each shard at the oldest checkpoint of its consumers (each consumer skips what it
 * has already done with), reports records that left the stream before they were delivered, and
 * after DynamoDB Local was restarted it takes new iterators from where it had read to.
 */
export class StreamReader {
  private iterators = new Map<string, string>();
  /** Per shard: the last sequence number read; absent: read the shard from its oldest record. */
  private after = new Map<string, string>();
  private running = false;
  private wake?: () => void;
  private kicked = false;
  private loop?: Promise<void>;
  private stopped!: Promise<void>;
  private onStopped!: () => void;
  /** The dependency's generation the iterators were taken in. */
  private attached = 0;
  /** Closed shards read to their end. */
  private finished = new Set<string>();
  private failing?: { since: number; err: string };
  readonly consumers: StreamConsumer[] = [];

  constructor(
    private client: DynamoDBStreamsClient,
    private streamArn: string,
    /** The table's name (messages; and its current stream after a restart). */
    readonly table: string,
    private log: Log,
    private idleMs = 100,
    private dependency: Dependency = alwaysUp,
    /** The table's current stream ARN (DescribeTable): checked after DynamoDB Local restarted. */
    private currentArn?: () => Promise<string | undefined>,
  ) {
    this.stopped = new Promise((r) => (this.onStopped = r));
  }

  get arn(): string {
    return this.streamArn;
  }

  async start(): Promise<void> {
    await this.attach(false);
    this.attached = this.dependency.generation;
    this.running = true;
    this.loop = this.run();
  }

  /**
   * Positions every consumer and takes an iterator per shard. `again`: after a restart of
   * DynamoDB Local, reading resumes where it had got to (records read but not yet handled are
   * still in the consumers' memory).
   */
  private async attach(again: boolean): Promise<void> {
    let arn = this.streamArn;
    if (again && this.currentArn) arn = (await this.currentArn()) ?? arn;
    const newStream = arn !== this.streamArn;
    if (newStream)
      this.log('the table has a new stream after the restart: reading it from its start', {
        table: this.table,
        was: this.streamArn,
        now: arn,
      });
    this.streamArn = arn;
    const shards = await this.describe();
    if (!again || newStream) {
      this.after.clear();
      this.finished.clear();
      const fresh: StreamConsumer[] = [];
      for (const c of this.consumers) {
        const how = c.load(arn);
        if (how === 'fresh') fresh.push(c);
        if (how === 'new-stream')
          this.log(
            'stream checkpoint belongs to an older stream of the table: reading this one from its start',
            {
              level: 'info',
              function: c.fn.name,
              table: this.table,
            },
          );
        for (const shard of c.shards()) {
          if (shards.includes(shard)) continue;
          this.log('stream records lost: a shard of the checkpoint is no longer in the stream', {
            level: 'error',
            function: c.fn.name,
            table: this.table,
            shard,
            after: c.position(shard),
            note: 'records after this sequence number, if any, were never delivered (streams keep records 24 h)',
          });
          c.forget(shard);
        }
      }
      for (const shard of shards) {
        if (fresh.length) {
          const end = await this.lastSequence(shard);
          if (end) {
            for (const c of fresh) c.startAfter(shard, end);
            this.log(
              'no stream checkpoint: starting after the records already in the stream (as Lambda LATEST)',
              {
                level: 'info',
                table: this.table,
                shard,
                after: end,
                functions: fresh.map((c) => c.fn.name),
              },
            );
          }
        }
        let from: string | undefined;
        for (const c of this.consumers) {
          const p = c.position(shard);
          if (p === undefined) {
            from = undefined;
            break;
          }
          if (from === undefined || compareSeq(p, from) < 0) from = p;
        }
        if (from !== undefined) this.after.set(shard, from);
      }
      // A crash from now on resumes from here, not from a new LATEST.
      for (const c of this.consumers) c.save();
    }
    this.iterators.clear();
    for (const shard of shards) if (!this.finished.has(shard)) await this.acquire(shard);
  }

  /** Every shard of the stream, parents first (the order DescribeStream gives). */
  private async describe(): Promise<string[]> {
    const out: string[] = [];
    let start: string | undefined;
    do {
      const d = await this.client.send(
        new DescribeStreamCommand({ StreamArn: this.streamArn, ExclusiveStartShardId: start }),
      );
      for (const s of d.StreamDescription?.Shards ?? []) out.push(s.ShardId!);
      start = d.StreamDescription?.LastEvaluatedShardId;
    } while (start);
    return out;
  }

  /**
   * The last sequence number in a shard now, read from its start (DynamoDB Local's LATEST
   * iterators can fail with TrimmedDataAccessException once the table gets its first records;
   * sequence-number iterators do not). Only a consumer without a checkpoint needs it.
   */
  private async lastSequence(shard: string): Promise<string | undefined> {
    let last: string | undefined;
    let it = (
      await this.client.send(
        new GetShardIteratorCommand({
          StreamArn: this.streamArn,
          ShardId: shard,
          ShardIteratorType: 'TRIM_HORIZON',
        }),
      )
    ).ShardIterator;
    while (it) {
      const r = await this.client.send(new GetRecordsCommand({ ShardIterator: it, Limit: 1000 }));
      const recs = r.Records ?? [];
      last = recs[recs.length - 1]?.dynamodb?.SequenceNumber ?? last;
      it = r.NextShardIterator;
      if (!recs.length) break;
    }
    return last;
  }

  /** An iterator after the last record read (or at the shard's start); reports trimmed records. */
  private async acquire(shard: string): Promise<void> {
    const after = this.after.get(shard);
    try {
      const r = await this.client.send(
        new GetShardIteratorCommand({
          StreamArn: this.streamArn,
          ShardId: shard,
          ...(after
            ? { ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: after }
            : { ShardIteratorType: 'TRIM_HORIZON' }),
        }),
      );
      if (r.ShardIterator) this.iterators.set(shard, r.ShardIterator);
    } catch (err) {
      if ((err as Error)?.name !== 'TrimmedDataAccessException' || !after) throw err;
      this.log('stream records lost: they left the stream before they were delivered', {
        level: 'error',
        table: this.table,
        shard,
        after,
        functions: this.consumers.map((c) => c.fn.name),
        note: 'records after this sequence number up to the oldest one kept were never delivered (streams keep records 24 h)',
      });
      this.after.delete(shard);
      await this.acquire(shard);
    }
  }

  /** In the idle poll with no kick pending, and every consumer idle: all that was written is handled. */
  get idle(): boolean {
    return this.resting && !this.kicked && this.consumers.every((c) => c.idle);
  }
  private resting = false;

  kick(): void {
    this.kicked = true;
    this.wake?.();
  }

  /** Stops reading; what was read is still delivered by `drain` or the consumers' `finish`. */
  async stop(): Promise<void> {
    this.running = false;
    this.onStopped();
    this.wake?.();
    await this.loop;
  }

  /**
   * One round of a clean stop: reads what is in the stream now and waits until every consumer
   * has handled it. Returns how many records were read or handed to functions (0: quiet).
   */
  async drain(): Promise<number> {
    const before = this.consumers.reduce((n, c) => n + c.handled, 0);
    let read = 0;
    for (;;) {
      const n = await this.read();
      read += n;
      if (n === 0) break;
    }
    await Promise.all(this.consumers.map((c) => c.finish()));
    return read + this.consumers.reduce((n, c) => n + c.handled, 0) - before;
  }

  /** The reader's own trouble for `/healthz` (an outage of DynamoDB Local is reported as such). */
  problem(): HealthProblem | undefined {
    if (!this.failing || Date.now() - this.failing.since < 5000) return undefined;
    return {
      part: `stream ${this.table}`,
      message: `reading the stream fails: ${this.failing.err}`,
      since: new Date(this.failing.since).toISOString(),
    };
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(t);
        this.wake = undefined;
        resolve();
      };
    });
  }

  private async read(): Promise<number> {
    let n = 0;
    for (const [shard, iterator] of [...this.iterators]) {
      let r: GetRecordsCommandOutput;
      try {
        r = await this.client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));
      } catch (err) {
        const name = (err as Error)?.name;
        if (name !== 'TrimmedDataAccessException' && name !== 'ExpiredIteratorException') throw err;
        await this.acquire(shard);
        continue;
      }
      if (r.NextShardIterator) this.iterators.set(shard, r.NextShardIterator);
      else {
        // A closed shard read to its end; its children are new shards of the stream.
        this.iterators.delete(shard);
        this.finished.add(shard);
        for (const s of await this.describe())
          if (!this.iterators.has(s) && !this.finished.has(s)) await this.acquire(s);
      }
      const recs = r.Records ?? [];
      const last = recs[recs.length - 1]?.dynamodb?.SequenceNumber;
      if (last) this.after.set(shard, last);
      const seen = Date.now();
      for (const rec of recs) {
        const lr = toLambdaRecord(rec, this.streamArn);
        for (const c of this.consumers) c.push(lr, shard, seen);
        n++;
      }
    }
    return n;
  }

  private async run(): Promise<void> {
    let quickRetry = false;
    while (this.running) {
      if (!this.dependency.up) {
        await (this.dependency.gone ? this.stopped : Promise.race([this.dependency.whenUp(), this.stopped]));
        continue;
      }
      const wasKicked = this.kicked;
      this.kicked = false;
      let n = 0;
      try {
        if (this.attached !== this.dependency.generation) {
          const generation = this.dependency.generation;
          await this.attach(true);
          this.attached = generation;
        }
        n = await this.read();
        this.failing = undefined;
      } catch (err) {
        if (!this.running) break;
        // An outage of DynamoDB Local is reported once by its supervisor, not by every reader.
        if (this.dependency.up) {
          this.failing ??= { since: Date.now(), err: String(err) };
          this.log('stream read failed', { table: this.table, err: String(err) });
        }
        await this.sleep(500);
        continue;
      }
      // Every write the stack's functions make kicks the reader after it completed, so a read
      // that started after the last kick saw its record: read again only for newer kicks (after a
      // 1 ms pause that lets a burst of writes coalesce) or when a read came back full.
      if (this.kicked || n >= 1000) {
        quickRetry = false;
        await this.sleep(1);
        continue;
      }
      // A kick can arrive a hair before DynamoDB Local exposes the record: look once more.
      if (wasKicked && !quickRetry) {
        quickRetry = true;
        await this.sleep(3);
        continue;
      }
      quickRetry = false;
      this.resting = true;
      await this.sleep(this.idleMs);
      this.resting = false;
    }
  }
}
