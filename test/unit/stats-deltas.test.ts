import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { arrivalDeltas, deltasOf } from '../../shared/core/stats/job-events.ts';

describe('per-type and per-source aggregates', () => {
  test("a job's end counts in its minute's throughput, in total and for its job type", () => {
    const old = { state: 'running', jobtype: 'evdisp' };
    const now = { ...old, state: 'failed', endedAt: '2026-01-01T12:03:04.000Z' };
    const tp = deltasOf({ entity: 'jobs', old, new: now }).filter((d) => d.pk === 'tp');
    assert.deepEqual(
      tp.map((d) => [d.sk, d.attr, d.n]),
      [
        ['2026-01-01T12:03', 'ended', 1],
        ['2026-01-01T12:03', 'failed', 1],
        ['2026-01-01T12:03', 'failed@evdisp', 1],
      ],
    );
  });

  test("a file's arrival counts for its source, per minute and per hour", () => {
    assert.deepEqual(
      arrivalDeltas('xrootd', '2026-01-01T12:03:04.000Z').map((d) => [d.pk, d.sk, d.attr, d.n]),
      [
        ['tp', '2026-01-01T12:03', 'arr@xrootd', 1],
        ['arrh', '2026-01-01T12', 'xrootd', 1],
      ],
    );
  });
});
