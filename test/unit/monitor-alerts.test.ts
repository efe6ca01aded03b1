import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type AlertInput,
  alerts,
  capQueueAlerts,
  deadlineAlerts,
  decodeTrend,
  droppedAlert,
  encodeTrend,
  failureAlerts,
  latencyAlert,
  nextTrend,
  noPilotAlert,
  queueGrowth,
  SILENT_MIN_MS,
  silentSourceAlerts,
  sourceActivity,
} from '../../shared/monitor/alerts.ts';

const T0 = Date.parse('2026-01-01T12:00:00Z');
const base: AlertInput = { nowMs: T0, livePilots: 3, queued: 0, jobtypes: [] };
const capped = (queued: number) => [{ name: 'dqm', queued, inFlight: 4, limit: 4 }];
const type = (name: string, ended: Record<string, number>, more: object = {}) => ({
  name,
  queued: 0,
  inFlight: 0,
  limit: null,
  ended,
  ...more,
});
const query = (href: string | undefined) => Object.fromEntries(new URL(href!, 'http://x').searchParams);

describe('dashboard alerts', () => {
  test('no alerts when pilots are live and nothing went wrong', () => {
    assert.deepEqual(alerts({ ...base, jobtypes: [type('dqm', { finished: 40 })] }), []);
  });

  test('no live pilots is critical when jobs are queued, a warning otherwise', () => {
    const [a] = noPilotAlert({ ...base, livePilots: 0, queued: 5 });
    assert.equal(a?.level, 'critical');
    assert.match(a!.text, /5 queued jobs cannot start/);
    assert.equal(a!.href, '/monitor/pilots');
    assert.equal(noPilotAlert({ ...base, livePilots: 0 })[0]?.level, 'warning');
    assert.deepEqual(noPilotAlert(base), []);
  });

  test('failures, nonstarters, time limits and lost pilots of a type over the last 15 min', () => {
    // The case of the issue: 5 failed and 2 nonstarters.
    const [a] = failureAlerts({
      ...base,
      jobtypes: [type('evdisp', { finished: 3, failed: 5, nonstarter: 2 })],
    });
    assert.equal(a?.level, 'critical');
    assert.equal(a!.subject, 'evdisp');
    assert.match(
      a!.text,
      /evdisp: 7 of 10 jobs that ended in the last 15 min did not finish \(5 failed, 2 nonstarter\)/,
    );
    assert.deepEqual(query(a!.href), { state: 'failed,nonstarter', jobtype: 'evdisp', window: '15m' });
    // One of one is a warning (too few for critical); one in twenty is 5 %: below the 10 % threshold.
    assert.equal(failureAlerts({ ...base, jobtypes: [type('a', { timelimit: 1 })] })[0]?.level, 'warning');
    assert.deepEqual(failureAlerts({ ...base, jobtypes: [type('a', { finished: 19, failed: 1 })] }), []);
    assert.equal(
      failureAlerts({ ...base, jobtypes: [type('a', { finished: 9, pilotTO: 1 })] })[0]?.level,
      'warning',
    );
    // Killed (an operator) and cancelled are not failures of the type.
    assert.deepEqual(failureAlerts({ ...base, jobtypes: [type('a', { killed: 3, cancelled: 2 })] }), []);
  });

  test('jobs that waited in the queue past their deadline (stale) in the last 15 min', () => {
    const [a] = deadlineAlerts({
      ...base,
      jobtypes: [type('reco', { stale: 4 }, { deadline: 60, queued: 12 })],
    });
    assert.equal(a?.code, 'queue-past-deadline');
    assert.match(
      a!.text,
      /reco: 4 jobs waited in the queue past the 60 s deadline in the last 15 min \(stale\); 12 queued now/,
    );
    assert.deepEqual(query(a!.href), { state: 'stale', jobtype: 'reco', window: '15m' });
    assert.deepEqual(
      deadlineAlerts({ ...base, jobtypes: [type('reco', { finished: 4 }, { deadline: 60 })] }),
      [],
    );
  });

  test('dispatch latency above its 1 s target (p95, last 5 min, at least 5 jobs)', () => {
    const [a] = latencyAlert({ ...base, latency: { jobs: 20, p50Ms: 500, p95Ms: 5000 } });
    assert.equal(a?.code, 'latency');
    assert.match(a!.text, /p95 up to 5 s over the last 5 min \(20 jobs started; target 1 s\)/);
    assert.deepEqual(query(a!.href), { state: 'defined' });
    assert.deepEqual(
      latencyAlert({ ...base, latency: { jobs: 20, p50Ms: 50, p95Ms: 1000 } }),
      [],
      'at target',
    );
    assert.deepEqual(
      latencyAlert({ ...base, latency: { jobs: 4, p50Ms: 9000, p95Ms: 9000 } }),
      [],
      'too few',
    );
  });

  test('a type at its cap raises an alert only once its queue has grown over 15 s or more', () => {
    let trend = nextTrend(undefined, T0, capped(10));
    assert.deepEqual(
      capQueueAlerts({ ...base, jobtypes: capped(12), trend, nowMs: T0 + 5_000 }),
      [],
      'too soon to tell',
    );
    trend = nextTrend(trend, T0 + 5_000, capped(12));
    const [a] = capQueueAlerts({ ...base, jobtypes: capped(14), trend, nowMs: T0 + 20_000 });
    assert.equal(a?.code, 'cap-queue-growing');
    assert.match(
      a!.text,
      /dqm is at its cap \(4\/4 in flight\) and its queue grew from 10 to 14 in the last 20 s/,
    );
    assert.deepEqual(
      capQueueAlerts({ ...base, jobtypes: capped(9), trend, nowMs: T0 + 20_000 }),
      [],
      'a shrinking queue is fine',
    );
    const below = [{ name: 'dqm', queued: 14, inFlight: 3, limit: 4 }];
    assert.deepEqual(
      capQueueAlerts({ ...base, jobtypes: below, trend, nowMs: T0 + 20_000 }),
      [],
      'below its cap is fine',
    );
  });

  test('a data source silent for much longer than usual', () => {
    // xrootd: 240 files over 12 active hours (one every 3 min); last one 40 min ago.
    const src = { source: 'xrootd', last24h: 240, activeHours: 12, lastMs: T0 - 40 * 60_000 };
    const [a] = silentSourceAlerts({ ...base, sources: [src] });
    assert.equal(a?.code, 'source-silent');
    assert.match(
      a!.text,
      /No files from xrootd for 40 min; it usually sends one every 3 min \(240 in the last 24 h\)/,
    );
    assert.deepEqual(query(a!.href), { source: 'xrootd' });
    // 14 min: within 5 × 3 min. A gap of SILENT_MIN_MS is never an alert, however busy the source.
    assert.deepEqual(silentSourceAlerts({ ...base, sources: [{ ...src, lastMs: T0 - 14 * 60_000 }] }), []);
    const busy = { source: 's3', last24h: 10_000, activeHours: 24, lastMs: T0 - SILENT_MIN_MS };
    assert.deepEqual(silentSourceAlerts({ ...base, sources: [busy] }), []);
    // Too few files to know what is usual.
    assert.deepEqual(silentSourceAlerts({ ...base, sources: [{ ...src, last24h: 5 }] }), []);
  });

  test('source activity from per-minute and hourly arrival counts', () => {
    const minute = (m: number) => new Date(T0 - m * 60_000).toISOString().slice(0, 16);
    const hour = (h: number) => new Date(T0 - h * 3_600_000).toISOString().slice(0, 13);
    const acts = sourceActivity(
      [
        { minute: minute(30), arrivals: { watch: 2 } },
        { minute: minute(3), arrivals: { watch: 1 } },
      ],
      [
        { hour: hour(5), arrivals: { watch: 4, s3: 7 } },
        { hour: hour(0), arrivals: { watch: 3 } },
      ],
      T0,
    );
    assert.deepEqual(acts, [
      { source: 's3', last24h: 7, activeHours: 1, lastMs: Date.parse(`${hour(5)}:00:00Z`) + 3_600_000 },
      { source: 'watch', last24h: 7, activeHours: 2, lastMs: Date.parse(`${minute(3)}:00Z`) + 60_000 },
    ]);
  });

  test('dropped (shed) jobs of the last hour, per type', () => {
    const [a] = droppedAlert({
      ...base,
      jobtypes: [type('evdisp', {}, { droppedLastHour: 3 }), type('x', {})],
    });
    assert.equal(a?.code, 'dropped');
    assert.match(a!.text, /3 queued jobs were dropped .*: evdisp 3/);
    assert.deepEqual(query(a!.href), { state: 'dropped', jobtype: 'evdisp', window: '1h' });
  });

  test('critical alerts come first', () => {
    const list = alerts({
      ...base,
      livePilots: 0,
      queued: 1,
      jobtypes: [type('a', { stale: 1 }), type('b', { failed: 9 })],
    });
    assert.deepEqual(
      list.map((a) => [a.level, a.code]),
      [
        ['critical', 'no-live-pilots'],
        ['critical', 'failures'],
        ['warning', 'queue-past-deadline'],
      ],
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
