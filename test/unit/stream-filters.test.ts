/**
 * The stream filters in serverless.yml must let through every record the stream functions act on:
 * a filter that is too strict loses matching rounds or counter updates silently, on AWS and on
 * the local stack alike. Checked on every state transition, with the local stack's matcher.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBRecord } from 'aws-lambda';
import { triggersMatch } from '../../functions/streams/matchmaker.ts';
import { loadServerless } from '../../localstack/runtime/serverless-config.ts';
import { matchesFilter } from '../../localstack/runtime/streams.ts';
import { JobState } from '../../shared/core/job/job.ts';
import { PilotState } from '../../shared/core/pilot/pilot.ts';
import { deltasOf } from '../../shared/core/stats/job-events.ts';
import { toChange } from '../../shared/streams/records.ts';

type Item = Record<string, unknown>;
const model = loadServerless('prod');

function filtersOf(fn: string, table: string): unknown[] {
  const src = model.functions.find((f) => f.name === fn)?.streams.find((s) => s.table === table);
  assert.ok(src, `${fn} reads ${table}`);
  return src.filterPatterns.map((fp) => {
    const p = (fp as { pattern?: unknown }).pattern;
    return typeof p === 'string' ? JSON.parse(p) : (p ?? fp);
  });
}

function record(entity: string, oldItem: Item | undefined, newItem: Item | undefined): DynamoDBRecord {
  const eventName = !oldItem ? 'INSERT' : !newItem ? 'REMOVE' : 'MODIFY';
  return {
    eventName,
    eventSourceARN: `arn:aws:dynamodb:us-east-1:123456789012:table/p3s-prod-${entity}/stream/2026-01-01T00:00:00.000`,
    dynamodb: {
      SequenceNumber: '1',
      OldImage: oldItem ? (marshall(oldItem) as never) : undefined,
      NewImage: newItem ? (marshall(newItem) as never) : undefined,
    },
  } as DynamoDBRecord;
}

const NOW = '2026-01-01T00:00:00.000Z';
const job = (state: string | undefined, queued: boolean): Item | undefined =>
  state === undefined
    ? undefined
    : {
        id: 'j1',
        jobtype: 't',
        state,
        definedAt: NOW,
        startedAt: NOW,
        endedAt: NOW,
        ...(queued ? { qpk: 'Q#*', qsk: 'x' } : {}),
      };
const pilot = (state: string | undefined): Item | undefined =>
  state === undefined ? undefined : { id: 'p1', state, lastSeenAt: NOW };

/** Every (old, new) pair of job images: states × in the queue or not, with INSERT and REMOVE. */
function jobTransitions(): [Item | undefined, Item | undefined][] {
  const images = [undefined, ...JobState.options.flatMap((s) => [job(s, false), job(s, true)])];
  return images
    .flatMap((o) => images.map((n) => [o, n] as [Item | undefined, Item | undefined]))
    .filter(([o, n]) => o || n);
}
function pilotTransitions(): [Item | undefined, Item | undefined][] {
  const images = [undefined, ...PilotState.options.map((s) => pilot(s))];
  return images
    .flatMap((o) => images.map((n) => [o, n] as [Item | undefined, Item | undefined]))
    .filter(([o, n]) => o || n);
}

function check(
  fn: string,
  table: string,
  entity: string,
  transitions: [Item | undefined, Item | undefined][],
  acts: (r: DynamoDBRecord) => boolean,
): { acted: number; filtered: number } {
  const filters = filtersOf(fn, table);
  let acted = 0;
  let filtered = 0;
  for (const [o, n] of transitions) {
    const r = record(entity, o, n);
    const passes = filters.some((f) => matchesFilter(f, r));
    if (acts(r)) {
      acted++;
      assert.ok(
        passes,
        `${fn} acts on ${r.eventName} ${String(o?.state)} → ${String(n?.state)} but its filter drops it`,
      );
    } else if (!passes) filtered++;
  }
  return { acted, filtered };
}

const statsActs = (r: DynamoDBRecord) => {
  const c = toChange(r);
  return deltasOf({ entity: c.entity as 'jobs', old: c.old, new: c.new }).length > 0;
};

describe('stream filters', () => {
  test('the matchmaker gets every job change that queues a job or frees a cap slot, and not jobstart', () => {
    const r = check('matchmaker', 'JobsTable', 'jobs', jobTransitions(), (rec) =>
      triggersMatch(toChange(rec)),
    );
    assert.ok(r.acted > 0 && r.filtered > 0);
  });

  test('the matchmaker gets every pilot that becomes idle, and not its repeated polls', () => {
    const r = check('matchmaker', 'PilotsTable', 'pilots', pilotTransitions(), (rec) =>
      triggersMatch(toChange(rec)),
    );
    assert.ok(r.acted > 0 && r.filtered > 0);
  });

  test('the stats consumer gets every job and pilot state change, TTL removals included', () => {
    check('jobEvents', 'JobsTable', 'jobs', jobTransitions(), statsActs);
    const r = check('jobEvents', 'PilotsTable', 'pilots', pilotTransitions(), statsActs);
    assert.ok(r.filtered > 0, 'heartbeats and repeated polls are filtered out');
  });
});
