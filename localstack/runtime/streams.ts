import {
  type _Record,
  DescribeStreamCommand,
  type DynamoDBStreamsClient,
  GetRecordsCommand,
  type GetRecordsCommandOutput,
  GetShardIteratorCommand,
} from '@aws-sdk/client-dynamodb-streams';
import type { DynamoDBRecord } from 'aws-lambda';
import { type AnyHandler, invoke } from './invoke.ts';
import type { LocalFunction, StreamSource } from './serverless-config.ts';

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

/**
 * Delivers one table's stream records to one function with Lambda's batch semantics: batches
 * of at most `batchSize`, one batch at a time, partial batch failure (retry from the first
 * failed record), at most `maximumRetryAttempts` retries, then the records are dropped and
 * logged (Lambda's on-failure destination).
 */
export class StreamConsumer {
  readonly stats: StreamStats = { delivered: 0, batches: 0, failedBatches: 0, droppedRecords: 0, lagMs: [] };
  private pending: { record: DynamoDBRecord; seen: number }[] = [];
  private running?: Promise<void>;

  constructor(
    readonly fn: LocalFunction,
    private src: StreamSource,
    private handler: AnyHandler,
    private log: (msg: string, fields?: Json) => void,
  ) {}

  push(record: DynamoDBRecord, seen: number): void {
    if (!passes(this.src, record)) return;
    this.pending.push({ record, seen });
    if (this.pending.length >= this.src.batchSize) this.windowDone?.();
    this.running ??= this.deliver().finally(() => {
      this.running = undefined;
      if (this.pending.length) this.running = this.deliver().finally(() => (this.running = undefined));
    });
  }

  /** Nothing waits for delivery and no batch is being delivered (tests wait on it). */
  get idle(): boolean {
    return !this.running && !this.pending.length;
  }

  /** Ends the batching window early (a full batch, or the stack stopping). */
  private windowDone?: () => void;
  private stopping = false;

  /** For a stop: delivers what is pending at once (no more batching window) and waits for it. */
  async finish(): Promise<void> {
    this.stopping = true;
    this.windowDone?.();
    while (this.running) await this.running;
  }

  /**
   * Lambda's batching window: records are gathered until `batchWindow` seconds have passed since
   * the first one, or a batch is full, before the function is invoked.
   */
  private async gather(): Promise<void> {
    const windowMs = this.src.batchWindow * 1000;
    if (windowMs <= 0 || this.stopping || this.pending.length >= this.src.batchSize) return;
    const left = this.pending[0]!.seen + windowMs - Date.now();
    if (left <= 0) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, left);
      this.windowDone = () => {
        clearTimeout(t);
        resolve();
      };
    });
    this.windowDone = undefined;
  }

  private async deliver(): Promise<void> {
    while (this.pending.length) {
      await this.gather();
      const batch = this.pending.slice(0, this.src.batchSize);
      this.pending = this.pending.slice(batch.length);
      let attempt = 0;
      let todo = batch;
      for (;;) {
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
            failedFrom = todo.findIndex((b) => ids.has(b.record.dynamodb?.SequenceNumber ?? ''));
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
        todo = todo.slice(failedFrom);
        if (attempt++ >= this.src.maximumRetryAttempts) {
          this.stats.droppedRecords += todo.length;
          this.log('stream batch dropped after retries', {
            function: this.fn.name,
            records: todo.map((b) => b.record.dynamodb?.SequenceNumber),
          });
          break;
        }
      }
    }
  }
}

/**
 * Reads one table's stream (one reader per table, shared by every function that listens to it;
 * on AWS each function has its own poller, which changes cost, not semantics). `kick()` makes it
 * read at once — the local stack kicks after every write its functions make, so delivery does not
 * wait for the idle interval; bursts of kicks coalesce into one read.
 */
export class StreamReader {
  private iterators = new Map<string, string>();
  private running = false;
  private wake?: () => void;
  private kicked = false;
  private loop?: Promise<void>;
  readonly consumers: StreamConsumer[] = [];

  constructor(
    private client: DynamoDBStreamsClient,
    private streamArn: string,
    private log: (msg: string, fields?: Json) => void,
    private idleMs = 100,
  ) {}

  /** Last sequence number read per shard: where a re-acquired iterator resumes. */
  private lastSeq = new Map<string, string>();

  /**
   * Starts at the end of each open shard: old records (a persistent stack's past) are skipped by
   * reading from TRIM_HORIZON without delivering, then every read resumes AFTER_SEQUENCE_NUMBER.
   * (DynamoDB Local's LATEST iterators can fail with TrimmedDataAccessException once the table
   * gets its first records; sequence-number iterators do not.)
   */
  async start(): Promise<void> {
    const d = await this.client.send(new DescribeStreamCommand({ StreamArn: this.streamArn }));
    for (const shard of d.StreamDescription?.Shards ?? []) {
      if (shard.SequenceNumberRange?.EndingSequenceNumber) continue;
      let it = (
        await this.client.send(
          new GetShardIteratorCommand({
            StreamArn: this.streamArn,
            ShardId: shard.ShardId!,
            ShardIteratorType: 'TRIM_HORIZON',
          }),
        )
      ).ShardIterator;
      while (it) {
        const r = await this.client.send(new GetRecordsCommand({ ShardIterator: it, Limit: 1000 }));
        const recs = r.Records ?? [];
        const last = recs[recs.length - 1]?.dynamodb?.SequenceNumber;
        if (last) this.lastSeq.set(shard.ShardId!, last);
        it = r.NextShardIterator;
        if (!recs.length) break;
      }
      if (it) this.iterators.set(shard.ShardId!, it);
    }
    this.running = true;
    this.loop = this.run();
  }

  /** A fresh iterator after the last record read (or from the start of a shard never read). */
  private async reacquire(shard: string): Promise<void> {
    const after = this.lastSeq.get(shard);
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

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
    await Promise.all(this.consumers.map((c) => c.finish()));
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
    for (const [shard, iterator] of this.iterators) {
      let r: GetRecordsCommandOutput;
      try {
        r = await this.client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));
      } catch (err) {
        const name = (err as Error)?.name;
        if (name !== 'TrimmedDataAccessException' && name !== 'ExpiredIteratorException') throw err;
        await this.reacquire(shard);
        continue;
      }
      if (r.NextShardIterator) this.iterators.set(shard, r.NextShardIterator);
      else this.iterators.delete(shard);
      const recs = r.Records ?? [];
      const last = recs[recs.length - 1]?.dynamodb?.SequenceNumber;
      if (last) this.lastSeq.set(shard, last);
      const seen = Date.now();
      for (const rec of recs) {
        const lr = toLambdaRecord(rec, this.streamArn);
        for (const c of this.consumers) c.push(lr, seen);
        n++;
      }
    }
    return n;
  }

  private async run(): Promise<void> {
    let quickRetry = false;
    while (this.running) {
      const wasKicked = this.kicked;
      this.kicked = false;
      let n = 0;
      try {
        n = await this.read();
      } catch (err) {
        if (!this.running) break;
        this.log('stream read failed', { stream: this.streamArn, err: String(err) });
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
