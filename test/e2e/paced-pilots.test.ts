/**
 * Real pilot processes against a stack in paced mode (docs/protocol.md, "Idle pilots"): they
 * follow the server's `retryAfter`, stay silent in between — longer than the heartbeat timeout
 * here — and the reaper, running every half second, never takes that silence for death; jobs
 * submitted meanwhile run once each on the next poll.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Tables } from '../helpers/chaos.ts';
import { type PilotProcess, startPilot } from '../helpers/pilots.ts';
import { startTestStack, type TestStack, waitFor } from '../helpers/stack.ts';

const HB = 2;
const PACE = 3; // mean retryAfter, s: each pilot's is in [1.5, 4.5) — past the heartbeat timeout
let s: TestStack;
let t: Tables;
let pilots: PilotProcess[] = [];

before(async () => {
  s = await startTestStack({
    P3S_POLL_MODE: 'paced',
    P3S_POLL_PACE_MIN: String(PACE),
    P3S_POLL_PACE_MAX: String(PACE),
    P3S_HEARTBEAT_TIMEOUT: String(HB),
    P3S_REAPER_INTERVAL: '0.5',
  });
  t = new Tables(s.dynamoEndpoint, s.tablePrefix);
});
after(async () => {
  await Promise.all(pilots.map((p) => p.stop('SIGKILL')));
  await s.close();
});

describe('paced polling with real pilots', () => {
  test('idle pilots poll at the pace they are given, silent past the heartbeat timeout, and are never timed out', async () => {
    pilots = [startPilot(s.url, s.pilotToken), startPilot(s.url, s.pilotToken)];
    const ids = await waitFor(
      async () => {
        const list = (await s.call('GET', '/pilots')).body.pilots as { id: string; state: string }[];
        return list.length === 2 && list.every((p) => p.state === 'waiting') && list.map((p) => p.id);
      },
      { what: 'two pilots waiting' },
    );
    // Each pilot's item records when it was told to poll next; watch each take three such paces.
    const told = new Map<string, Set<string>>(ids.map((id) => [id, new Set<string>()]));
    let longestSilence = 0;
    let left: string | undefined;
    await waitFor(
      async () => {
        for (const id of ids) {
          const item = await t.get('pilots', { id });
          if (item.state !== 'waiting') left = `pilot ${id} is ${item.state}`;
          if (left) return true; // fail now, not at the deadline
          if (item.nextPollBy) told.get(id)!.add(item.nextPollBy);
          longestSilence = Math.max(
            longestSilence,
            Date.parse(item.nextPollBy) - Date.parse(item.lastSeenAt),
          );
        }
        return [...told.values()].every((set) => set.size >= 4);
      },
      { what: 'three paced polls by each pilot', timeoutMs: 40_000, intervalMs: 100 },
    );
    assert.equal(left, undefined, 'every pilot stayed waiting (none timed out)');
    assert.ok(
      longestSilence > HB * 1000,
      `a pilot was told to stay silent for ${longestSilence} ms, past the ${HB} s heartbeat timeout`,
    );
    const all = (await s.call('GET', '/pilots')).body.pilots as { id: string; state: string }[];
    assert.deepEqual(
      all.map((p) => p.state),
      ['waiting', 'waiting'],
      'no pilot was timed out, none registered again',
    );
    for (const p of pilots) assert.equal(p.child.exitCode, null, 'the pilot process runs on');
  });

  test('jobs submitted one at a time run once each, on the next poll', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await s.call('POST', '/jobs', {
        body: [{ name: `paced-${i}`, jobtype: 'paced', payload: '/bin/true' }],
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      const id = r.body[0].id as string;
      ids.push(id);
      const j = await waitFor(
        async () => {
          const b = (await s.call('GET', `/jobs/${id}`)).body;
          return b.state === 'finished' && b;
        },
        { what: `job ${i} finished`, timeoutMs: 20_000 },
      );
      assert.ok(j.payloadStartedAt, 'its payload ran');
    }
    const pilotsNow = (await s.call('GET', '/pilots')).body.pilots as { jobcount: number }[];
    assert.equal(
      pilotsNow.reduce((a, p) => a + p.jobcount, 0),
      3,
      'three jobs, three runs',
    );
  });
});
