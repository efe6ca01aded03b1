import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { config } from '../../shared/config.ts';
import { paceFor } from '../../shared/db/pilot-ops.ts';

// The defaults: R = 2 polls/s in all, mean retryAfter bounded to [0.5 s, 120 s].
const { P3S_IDLE_POLLS_PER_S: R, P3S_POLL_PACE_MIN: MIN, P3S_POLL_PACE_MAX: MAX } = config();

describe('paced polling: retryAfter', () => {
  test('its mean grows with the idle pilots so that all of them poll R times a second in all', () => {
    for (const n of [10, 40, 100, 200]) {
      const mean = paceFor(n, 0.5);
      assert.equal(mean, n / R, `${n} idle pilots`);
      assert.equal(n / mean, R, 'aggregate idle poll rate');
    }
  });

  test('the mean is bounded: a lone pilot is not asked to poll many times a second, a crowd not to sleep for ever', () => {
    assert.equal(paceFor(0, 0.5), MIN);
    assert.equal(paceFor(1, 0.5), Math.max(MIN, 1 / R));
    assert.equal(paceFor(100_000, 0.5), MAX);
  });

  test('each pilot’s pause is jittered ×[0.5, 1.5), at the bounds too, so polls spread out', () => {
    assert.equal(paceFor(100, 0), 25);
    assert.ok(paceFor(100, 0.999) > 74 && paceFor(100, 0.999) < 75);
    // At the upper bound the pilots still spread over [MAX/2, 1.5 MAX) instead of all coming
    // back at once (a 2,000-pilot bench saw them do that when the jitter came before the bound).
    assert.equal(paceFor(100_000, 0), MAX / 2);
    assert.ok(paceFor(100_000, 0.999) > MAX * 1.49);
    const draws = Array.from({ length: 2000 }, () => paceFor(10_000));
    const distinct = new Set(draws).size;
    assert.ok(distinct > 1000, `${distinct} distinct pauses of 2,000`);
    const avg = draws.reduce((a, b) => a + b, 0) / draws.length;
    assert.ok(Math.abs(avg - MAX) < MAX * 0.05, `mean pause ${avg} s ≈ ${MAX} s`);
  });
});
