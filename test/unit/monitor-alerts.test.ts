import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type AlertInput,
  alerts,
  decodeTrend,
  encodeTrend,
  nextTrend,
  queueGrowth,
} from '../../shared/monitor/alerts.ts';

const T0 = Date.parse('2026-01-01T12:00:00Z');
const base: AlertInput = {
  nowMs: T0,
  livePilots: 3,
  queued: 0,
  jobtypes: [],
  staleLastHour: 0,
  droppedLastHour: 0,
};
const capped = (queued: number) => [{ name: 'dqm', queued, inFlight: 4, limit: 4 }];

describe('dashboard alerts', () => {
  test('no alerts when pilots are live and nothing went stale', () => {
    assert.deepEqual(alerts(base), []);
  });

  test('no live pilots is critical when jobs are queued, a warning otherwise', () => {
    assert.equal(alerts({ ...base, livePilots: 0, queued: 5 })[0]?.level, 'critical');
    assert.match(alerts({ ...base, livePilots: 0, queued: 5 })[0]!.text, /5 queued jobs cannot start/);
    assert.equal(alerts({ ...base, livePilots: 0 })[0]?.level, 'warning');
  });

  test('stale and dropped jobs of the last hour are reported with a link to them', () => {
    const [a] = alerts({ ...base, staleLastHour: 2, droppedLastHour: 1 });
    assert.equal(a?.code, 'stale-or-dropped');
    assert.match(a!.text, /2 went stale .* and 1 were dropped/);
    assert.equal(a!.href, '/monitor/jobs?state=stale,dropped&window=1h');
  });

  test('a type at its cap raises an alert only once its queue has grown over 15 s or more', () => {
    let trend = nextTrend(undefined, T0, capped(10));
    assert.deepEqual(
      alerts({ ...base, jobtypes: capped(12), trend, nowMs: T0 + 5_000 }),
      [],
      'too soon to tell',
    );
    trend = nextTrend(trend, T0 + 5_000, capped(12));
    const [a] = alerts({ ...base, jobtypes: capped(14), trend, nowMs: T0 + 20_000 });
    assert.equal(a?.code, 'cap-queue-growing');
    assert.match(
      a!.text,
      /dqm is at its cap \(4\/4 in flight\) and its queue grew from 10 to 14 in the last 20 s/,
    );
    assert.deepEqual(
      alerts({ ...base, jobtypes: capped(9), trend, nowMs: T0 + 20_000 }),
      [],
      'a shrinking queue is fine',
    );
    const below = [{ name: 'dqm', queued: 14, inFlight: 3, limit: 4 }];
    assert.deepEqual(
      alerts({ ...base, jobtypes: below, trend, nowMs: T0 + 20_000 }),
      [],
      'below its cap is fine',
    );
  });

  test('critical alerts come first', () => {
    const list = alerts({ ...base, livePilots: 0, queued: 1, staleLastHour: 1 });
    assert.deepEqual(
      list.map((a) => a.level),
      ['critical', 'warning'],
    );
  });
});

describe('queue trend token', () => {
  test('samples at most every 10 s, keeps 3 minutes, only capped types', () => {
    const types = [...capped(1), { name: 'free', queued: 9, inFlight: 0, limit: null }];
    let t = nextTrend(undefined, T0, types);
    t = nextTrend(t, T0 + 3_000, types);
    assert.equal(t.s.length, 1, 'no second sample within 10 s');
    assert.deepEqual(t.s[0]!.q, { dqm: 1 });
    t = nextTrend(t, T0 + 11_000, types);
    assert.equal(t.s.length, 2);
    t = nextTrend(t, T0 + 200_000, types);
    assert.deepEqual(
      t.s.map((x) => x.t),
      [T0 + 200_000],
      'older samples dropped',
    );
  });

  test('round-trips, and anything not made by encodeTrend is ignored', () => {
    const t = nextTrend(undefined, T0, capped(3));
    assert.deepEqual(decodeTrend(encodeTrend(t)), t);
    for (const bad of [undefined, '', 'x', Buffer.from('{"s":"no"}').toString('base64url'), 'A'.repeat(5000)])
      assert.equal(decodeTrend(bad), undefined);
    assert.equal(queueGrowth(undefined, T0, 'dqm', 5), undefined);
  });
});
