import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { planShedding, type QueuedJob, type ShedInput } from '../../shared/core/data/shedding.ts';

const NOW = Date.parse('2025-11-25T12:00:00.000Z');
const at = (secondsAgo: number) => new Date(NOW - secondsAgo * 1000).toISOString();
const job = (id: string, secondsAgo: number, priority = 0): QueuedJob => ({
  id,
  priority,
  definedAt: at(secondsAgo),
});

/** The same greedy rule, checked the slow way: recompute every position for every candidate. */
function bruteForce(input: ShedInput): Set<string> {
  const rate = input.limit / input.meanRunSec;
  const free = Math.max(0, input.limit - input.inFlight);
  const live = input.jobs.filter((j) => Date.parse(j.definedAt) + input.deadlineSec * 1000 >= input.nowMs);
  const dispatch = (a: QueuedJob, b: QueuedJob) =>
    b.priority - a.priority || a.definedAt.localeCompare(b.definedAt) || a.id.localeCompare(b.id);
  const cap = (j: QueuedJob) =>
    Math.floor(((Date.parse(j.definedAt) + input.deadlineSec * 1000 - input.nowMs) / 1000) * rate + 1e-9) +
    free -
    1;
  const value = [...live].sort(
    (a, b) => b.priority - a.priority || b.definedAt.localeCompare(a.definedAt) || b.id.localeCompare(a.id),
  );
  const kept: QueuedJob[] = [];
  const drop = new Set<string>();
  for (const j of value) {
    const trial = [...kept, j].sort(dispatch);
    if (trial.every((k, pos) => pos <= cap(k))) kept.push(j);
    else drop.add(j.id);
  }
  return drop;
}

const base = (jobs: QueuedJob[], over: Partial<ShedInput> = {}): ShedInput => ({
  jobs,
  deadlineSec: 60,
  limit: 2,
  inFlight: 2,
  meanRunSec: 10,
  nowMs: NOW,
  ...over,
});

describe('shedding', () => {
  test('a queue that can all start before its deadline loses nothing', () => {
    // 2 slots, 10 s per job → 0.2 jobs/s; 5 jobs need ≤ 25 s, each has ≥ 50 s left.
    const jobs = [1, 2, 3, 4, 5].map((i) => job(`j${i}`, 10 - i));
    assert.deepEqual(planShedding(base(jobs)).drop, []);
  });

  test('an overloaded queue drops its oldest jobs, not its newest', () => {
    // 30 jobs, one per second over the last 30 s, deadline 60 s, 0.2 jobs/s: the newest ~9 fit.
    const jobs = Array.from({ length: 30 }, (_, i) => job(`j${String(i).padStart(2, '0')}`, 30 - i));
    const plan = planShedding(base(jobs));
    assert.ok(plan.drop.length > 15, `dropped ${plan.drop.length}`);
    const kept = jobs.filter((j) => !plan.drop.includes(j.id));
    const newestDropped = Math.max(
      ...plan.drop.map((id) => Date.parse(jobs.find((j) => j.id === id)!.definedAt)),
    );
    assert.ok(
      kept.every((k) => Date.parse(k.definedAt) >= newestDropped),
      'every kept job is newer than every dropped one',
    );
    // And what is kept really fits: position k starts after (k − free + 1)/rate ≤ its slack.
    kept
      .sort((a, b) => a.definedAt.localeCompare(b.definedAt))
      .forEach((k, pos) => {
        const slack = (Date.parse(k.definedAt) + 60_000 - NOW) / 1000;
        assert.ok((pos + 1) / 0.2 <= slack + 1e-9, `${k.id} at ${pos} would miss its deadline`);
      });
  });

  test('a higher priority job is kept before lower ones, even when older', () => {
    const jobs = [
      job('old-high', 50, 10),
      ...Array.from({ length: 20 }, (_, i) => job(`low${i}`, 20 - i, 0)),
    ];
    const plan = planShedding(base(jobs));
    assert.ok(!plan.drop.includes('old-high'));
    assert.ok(plan.drop.length > 0);
  });

  test('free slots start at once; overdue jobs are left to the reaper', () => {
    const plan = planShedding(base([job('a', 5), job('b', 5), job('late', 120)], { inFlight: 0 }));
    assert.deepEqual(plan.drop, []);
    assert.equal(plan.overdue, 1);
  });

  test('without a cap or a run-time estimate nothing is shed', () => {
    const jobs = Array.from({ length: 50 }, (_, i) => job(`j${i}`, i));
    assert.deepEqual(planShedding(base(jobs, { limit: 0 })).drop, []);
    assert.deepEqual(planShedding(base(jobs, { meanRunSec: 0 })).drop, []);
  });

  test('the fast plan equals the slow greedy on random queues', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ ago: fc.integer({ min: 0, max: 120 }), priority: fc.integer({ min: 0, max: 3 }) }),
          {
            maxLength: 40,
          },
        ),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 0, max: 5 }),
        fc.integer({ min: 1, max: 30 }),
        fc.integer({ min: 1, max: 90 }),
        (specs, limit, inFlight, meanRunSec, deadlineSec) => {
          const jobs = specs.map((s, i) => job(`j${i}`, s.ago, s.priority));
          const input = base(jobs, { limit, inFlight, meanRunSec, deadlineSec });
          assert.deepEqual(new Set(planShedding(input).drop), bruteForce(input));
        },
      ),
      { numRuns: 300 },
    );
  });

  test('a queue of ten thousand jobs keeps exactly what fits (the plan is O(n log n))', () => {
    // 10 slots, 5 s per job → 2 jobs/s; all queued within the last minute, deadline 60 s.
    const jobs = Array.from({ length: 10_000 }, (_, i) => job(`j${i}`, (i % 600) / 10, 0));
    const plan = planShedding(base(jobs, { limit: 10, inFlight: 10, meanRunSec: 5 }));
    assert.equal(plan.keep + plan.drop.length, 10_000);
    assert.ok(plan.keep > 0 && plan.keep <= 2 * 60, `kept ${plan.keep}`);
  });
});
