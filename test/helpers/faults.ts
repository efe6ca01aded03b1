/**
 * Fault injection on the local stack running in this test process (test/chaos): stream batches
 * the runtime drops after its bounded retries, DynamoDB writes that fail as if the function
 * died there, and pausing the sweeper so a test can look at what a fault left behind before the
 * repair. Everything acts on the same module instances the stack's handlers use.
 */

import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import { tableName } from '../../shared/config.ts';
import { db, dynamo } from '../../shared/db/client.ts';
import type { TestStack } from './stack.ts';

type Json = Record<string, any>;

/** A jobs-stream record as the test sees it (images unmarshalled). */
export interface JobRecord {
  eventID: string;
  seq: bigint;
  old?: Json;
  new?: Json;
}

type Handler = (event: any, ctx: any) => Promise<any>;
/** The fields of the local runtime's StreamConsumer a fault needs (private there, reached on purpose). */
interface Consumer {
  fn: { name: string };
  handler: Handler;
  stats: { droppedRecords: number; failedBatches: number };
}

function toJobRecord(r: DynamoDBRecord): JobRecord {
  const img = (i: unknown) => (i ? unmarshall(i as never) : undefined);
  return {
    eventID: String(r.eventID),
    seq: BigInt(r.dynamodb?.SequenceNumber ?? '0'),
    old: img(r.dynamodb?.OldImage),
    new: img(r.dynamodb?.NewImage),
  };
}

/**
 * Wraps the `jobEvents` function's consumer of the jobs stream. Every record it is given is kept
 * (once, by event id) in `records`; while armed, a batch with a record that `drop` matches fails
 * on every attempt, so the runtime drops it after `maximumRetryAttempts` — the "jobEvents batch
 * lost after its retries" of production. `dropped` counts those batches' records.
 */
export function jobEventsTap(s: TestStack, drop?: (r: JobRecord) => boolean) {
  const consumers = s.streamReaders
    .flatMap((r) => r.consumers as unknown as Consumer[])
    .filter((c) => c.fn.name === 'jobEvents');
  const seen = new Map<string, JobRecord>();
  const tap = {
    armed: Boolean(drop),
    /** Batches failed on purpose (each attempt counts). */
    failedAttempts: 0,
    /** Records of the jobs stream, in stream order. */
    records(): JobRecord[] {
      return [...seen.values()].sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0));
    },
    /** Records the runtime dropped, over every jobEvents consumer. */
    dropped(): number {
      return consumers.reduce((n, c) => n + c.stats.droppedRecords, 0);
    },
    restore(): void {
      for (const [c, h] of originals) c.handler = h;
    },
  };
  const originals = new Map<Consumer, Handler>();
  for (const c of consumers) {
    const original = c.handler;
    originals.set(c, original);
    c.handler = async (event: DynamoDBStreamEvent, ctx: unknown) => {
      const recs = (event.Records ?? []).filter((r) => /table\/[^/]+-jobs\//.test(r.eventSourceARN ?? ''));
      const mine = recs.map(toJobRecord);
      for (const r of mine) seen.set(r.eventID, r);
      if (tap.armed && drop && mine.some(drop)) {
        tap.failedAttempts++;
        throw new Error('chaos: jobEvents batch fails (injected)');
      }
      return original(event, ctx);
    };
  }
  return tap;
}

/**
 * Makes the next `times` DynamoDB requests that `match` fail before they reach DynamoDB, as if
 * the function making them died there. Returns how many fired so far and a way to disarm.
 */
export function failRequests(match: (command: string, input: Json) => boolean, times = 1) {
  const state = { left: times, fired: 0 };
  const name = `chaosFault${Math.random().toString(36).slice(2)}`;
  dynamo().middlewareStack.add(
    (next, context) => async (args) => {
      const command = String(context.commandName ?? '').replace(/Command$/, '');
      if (state.left > 0 && match(command, args.input as Json)) {
        state.left--;
        state.fired++;
        throw new Error(`chaos: ${command} on ${(args.input as Json).TableName} fails (injected)`);
      }
      return next(args);
    },
    { step: 'initialize', name },
  );
  return {
    get fired() {
      return state.fired;
    },
    disarm() {
      state.left = 0;
      dynamo().middlewareStack.remove(name);
    },
  };
}

const sweepKey = { pk: 'sweep', sk: 'state' };

/**
 * Holds the sweeper's lease far in the future: the reaper's runs find no sweep due until
 * `resumeSweeper`. A sweep already running finishes on its own.
 */
export async function pauseSweeper(): Promise<void> {
  await db().send(
    new UpdateCommand({
      TableName: tableName('stats'),
      Key: sweepKey,
      UpdateExpression: 'SET #at = :later',
      ExpressionAttributeNames: { '#at': 'at' },
      ExpressionAttributeValues: { ':later': Date.now() + 3_600_000 },
    }),
  );
}

/** Makes a sweep due at once: the next reaper run (or the one after, see sweepIfDue) sweeps. */
export async function resumeSweeper(): Promise<void> {
  await db().send(
    new UpdateCommand({
      TableName: tableName('stats'),
      Key: sweepKey,
      UpdateExpression: 'SET #at = :zero',
      ExpressionAttributeNames: { '#at': 'at' },
      ExpressionAttributeValues: { ':zero': 0 },
    }),
  );
}
