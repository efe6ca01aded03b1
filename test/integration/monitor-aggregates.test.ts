import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { tableName } from '../../shared/config.ts';
import { db } from '../../shared/db/client.ts';
import { SimPilot } from '../helpers/pilot-sim.ts';
import { startTestStack, type TestStack, waitFor } from '../helpers/stack.ts';

/**
 * The aggregates behind the dashboard's alerts, kept by the real paths: a job type's failures
 * (jobs stream → per-minute `<state>@<type>`) and a source's arrivals (registration → per-minute
 * `arr@<source>` and hourly counts), and the live refresh raising the failure alert from them.
 */
let s: TestStack;
before(async () => {
  s = await startTestStack();
});
after(async () => {
  await s.close();
});

const stat = async (pk: string, sk: string) =>
  (await db().send(new GetCommand({ TableName: tableName('stats'), Key: { pk, sk }, ConsistentRead: true })))
    .Item;

describe('dashboard aggregates', () => {
  test("failed jobs count per type in their minute, and the live refresh raises the type's failure alert", async () => {
    const p = new SimPilot(s);
    assert.equal((await p.register()).status, 201);
    const ids: string[] = [];
    for (const exitCode of [1, 1, 0]) {
      const submitted = await s.call('POST', '/jobs', {
        // The simulated pilot runs nothing; the payload says what it reports.
        body: [{ name: 'agg', jobtype: 'aggtype', payload: `exit ${exitCode}` }],
      });
      assert.equal(submitted.status, 201, JSON.stringify(submitted.body));
      const [j] = submitted.body;
      assert.equal((await p.poll(5)).body.job?.id, j.id);
      await p.report({ event: 'jobstart', jobId: j.id });
      await p.report({ event: 'jobstop', jobId: j.id, exitCode });
      ids.push(j.id);
    }
    const ended = await Promise.all(
      ids.map(async (id) => (await s.call('GET', `/jobs/${id}`)).body.endedAt as string),
    );
    const minutes = [...new Set(ended.map((t) => t.slice(0, 16)))];
    await waitFor(
      async () => {
        let failed = 0;
        let finished = 0;
        for (const m of minutes) {
          const it = await stat('tp', m);
          failed += Number(it?.['failed@aggtype'] ?? 0);
          finished += Number(it?.['finished@aggtype'] ?? 0);
        }
        return failed === 2 && finished === 1;
      },
      { what: 'failed@aggtype counted twice and finished@aggtype once', timeoutMs: 15_000 },
    );
    const live = await s.call('GET', '/monitor/live.json');
    assert.equal(live.status, 200);
    const a = live.body.alerts.find(
      (x: { code: string; subject?: string }) => x.code === 'failures' && x.subject === 'aggtype',
    );
    assert.ok(a, JSON.stringify(live.body.alerts));
    assert.match(a.text, /aggtype: 2 of 3 jobs .* \(2 failed\)/);
    assert.equal(a.level, 'warning', 'two failures are not yet critical');
    await p.report({ event: 'stopped' });
  });

  test('a registered file counts for its source, per minute and per hour; a repeat does not', async () => {
    const files = [{ location: '/data/agg/run1.raw', source: 'watch' }];
    const r = await s.call('POST', '/data', { body: files });
    assert.equal(r.status, 200);
    const at = (await s.call('GET', `/data/${r.body.results[0].id}`)).body.registeredAt as string;
    assert.equal((await stat('tp', at.slice(0, 16)))?.['arr@watch'], 1);
    assert.equal((await stat('arrh', at.slice(0, 13)))?.watch, 1);
    assert.equal((await s.call('POST', '/data', { body: files })).status, 200);
    assert.equal((await stat('arrh', at.slice(0, 13)))?.watch, 1, 'announced again: not a new arrival');
  });
});
