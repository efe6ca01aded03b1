import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SimPilot } from '../helpers/pilot-sim.ts';
import { tableSnapshot } from '../helpers/routes.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

/** Limits and validation at the edge: a 4xx naming the field or the limit, and nothing changed. */
let s: TestStack;
let queued: string;
before(async () => {
  s = await startTestStack();
  queued = (await s.call('POST', '/jobs', { body: job({ name: 'queued' }) })).body[0].id;
});
after(async () => {
  await s.close();
});

/** Expects `status` with a message matching `message`, and no table changed by the call. */
async function rejects(
  method: string,
  path: string,
  opts: { body?: unknown; raw?: string; token?: string; headers?: Record<string, string> },
  status: number,
  message: RegExp,
) {
  const before = await tableSnapshot(s);
  const r = await s.call(method, path, opts);
  assert.equal(r.status, status, `${method} ${path}: ${JSON.stringify(r.body).slice(0, 300)}`);
  assert.match(r.body.message, message);
  assert.deepEqual(await tableSnapshot(s), before, `${method} ${path} changed a table`);
  return r;
}

const job = (extra: Record<string, unknown>) => [
  { name: 'j', jobtype: 'default', payload: '/bin/true', ...extra },
];

describe('limits and validation', () => {
  test('a body over the route limit is 413 naming the limit', async () => {
    const big = JSON.stringify({ role: 'viewer', name: 'x'.repeat(70 * 1024) });
    const r = await rejects('POST', '/tokens', { raw: big }, 413, /exceeds 65536 bytes/);
    assert.equal(r.body.code, 'too_large');
    const jobs = JSON.stringify(
      job({ payload: 'x'.repeat(4000), env: {} }).concat(
        Array.from({ length: 300 }, () => ({
          name: 'y'.repeat(256),
          jobtype: 'j',
          payload: 'p'.repeat(4000),
        })),
      ),
    );
    assert.ok(jobs.length > 1024 * 1024);
    await rejects(
      'POST',
      '/jobs',
      { raw: jobs, headers: { 'content-type': 'application/json' } },
      413,
      /exceeds 1048576 bytes/,
    );
  });

  test('more than 500 jobs in one submit is 400, also when expanded by count or input files', async () => {
    await rejects(
      'POST',
      '/jobs',
      { body: Array.from({ length: 501 }, () => job({})[0]) },
      400,
      /^body: .*500/,
    );
    await rejects(
      'POST',
      '/jobs',
      { body: { jobs: [...job({}), ...job({}), ...job({})], count: 200 } },
      400,
      /jobs: expands to 600 jobs; at most 500/,
    );
    await rejects(
      'POST',
      '/jobs',
      {
        body: { jobs: [...job({}), ...job({})], inputFile: Array.from({ length: 251 }, (_, i) => `/f${i}`) },
      },
      400,
      /expands to 502 jobs/,
    );
  });

  test('env names must be environment variable names: 400 naming body[0].env.<KEY>', async () => {
    await rejects(
      'POST',
      '/jobs',
      { body: job({ env: { 'BAD-KEY': 'x' } }) },
      400,
      /^body\[0\]\.env\.BAD-KEY: not a valid environment variable name/,
    );
    await rejects('POST', '/jobs', { body: job({ env: { '1X': 'x' } }) }, 400, /^body\[0\]\.env\.1X:/);
    await rejects('POST', '/jobs', { body: job({ env: '{"A B":"x"}' }) }, 400, /^body\[0\]\.env\.A B:/);
    await rejects(
      'POST',
      '/jobs',
      { body: { jobs: job({ env: { 'a.b': 1 } }) } },
      400,
      /^body\.jobs\[0\]\.env\.a\.b:/,
    );
    await rejects('PUT', '/sites/s1', { body: { env: { 'X=Y': '1' } } }, 400, /^body\.env\.X=Y:/);
  });

  test('env size is bounded: 100 variables, 4 KiB a value, 16 KiB in all', async () => {
    const many = Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`V${i}`, '1']));
    await rejects(
      'POST',
      '/jobs',
      { body: job({ env: many }) },
      400,
      /^body\[0\]\.env: at most 100 variables/,
    );
    await rejects(
      'POST',
      '/jobs',
      { body: job({ env: { V: 'x'.repeat(4097) } }) },
      400,
      /^body\[0\]\.env\.V:/,
    );
    const wide = Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`V${i}`, 'x'.repeat(4000)]));
    await rejects('POST', '/jobs', { body: job({ env: wide }) }, 400, /^body\[0\]\.env: at most 16384 bytes/);
  });

  test('priority must be an integer within ±1e9', async () => {
    for (const priority of [1_000_000_001, -1_000_000_001, '1e10', 1.5, '99999999999'])
      await rejects('POST', '/jobs', { body: job({ priority }) }, 400, /^body\[0\]\.priority:/);
    await rejects('PATCH', `/jobs/${queued}`, { body: { priority: 2e9 } }, 400, /^body\.priority:/);
    await rejects('PUT', '/jobtypes/t1', { body: { priority: -2e9 } }, 400, /^body\.priority:/);
    const edge = await s.call('POST', '/jobs', { body: job({ priority: 1_000_000_000 }) });
    assert.equal(edge.status, 201, 'the bound itself is allowed');
  });

  test('strings over their length are 400 naming the field', async () => {
    await rejects('POST', '/jobs', { body: job({ name: 'n'.repeat(257) }) }, 400, /^body\[0\]\.name:/);
    await rejects('POST', '/jobs', { body: job({ payload: 'p'.repeat(4097) }) }, 400, /^body\[0\]\.payload:/);
    await rejects('POST', '/jobs', { body: job({ jobtype: 'x'.repeat(65) }) }, 400, /^body\[0\]\.jobtype:/);
    await rejects('POST', '/jobs', { body: job({ jobtype: 'a/b' }) }, 400, /^body\[0\]\.jobtype:/);
    await rejects(
      'POST',
      '/tokens',
      { body: { role: 'viewer', name: 'n'.repeat(129) } },
      400,
      /^body\.name:/,
    );
    const p = new SimPilot(s);
    await rejects(
      'POST',
      '/pilots',
      { token: s.pilotToken, body: { id: p.id, key: p.key, host: 'h'.repeat(256) } },
      400,
      /^body\.host:/,
    );
    await rejects(
      'POST',
      '/pilots',
      { token: s.pilotToken, body: { id: p.id, key: 'short', host: 'h' } },
      400,
      /^body\.key:/,
    );
    assert.equal((await p.register()).status, 201);
    await rejects(
      'POST',
      `/pilots/${p.id}/report`,
      {
        token: s.pilotToken,
        headers: { 'x-p3s-pilot-key': p.key },
        body: { event: 'heartbeat', stdoutTail: 'x'.repeat(8193) },
      },
      400,
      /^body\.stdoutTail:/,
    );
  });

  test('unknown keys, wrong types and bad enums are 400 naming the field', async () => {
    await rejects(
      'POST',
      '/jobs',
      { body: job({ nmae: 'typo' }) },
      400,
      /^body\[0\]: Unrecognized key: "nmae"/,
    );
    await rejects('POST', '/jobs', { body: job({ state: 'running' }) }, 400, /^body\[0\]\.state:/);
    await rejects('POST', '/tokens', { body: { role: 'root' } }, 400, /^body\.role:/);
    await rejects(
      'POST',
      '/tokens',
      { body: { role: 'viewer', expiresInDays: 'soon' } },
      400,
      /^body\.expiresInDays:/,
    );
    await rejects('POST', '/pilots/kill', { body: { mode: 'explode', all: true } }, 400, /^body\.mode:/);
    await rejects('GET', '/jobs?limit=0', {}, 400, /^query\.limit:/);
    await rejects('GET', '/jobs?limit=501', {}, 400, /^query\.limit:/);
    await rejects('GET', '/jobs?state=bogus', {}, 400, /^query\.state/);
    await rejects('GET', '/jobs?colour=red', {}, 400, /^query: Unrecognized key: "colour"/);
    await rejects('GET', '/jobs/not-a-uuid', {}, 400, /^path\.id: not a job id/);
    await rejects(
      'GET',
      `/jobs?cursor=${Buffer.from('{"day":"x"}').toString('base64url')}`,
      {},
      400,
      /^query\.cursor:/,
    );
  });

  test('GraphML over 1 MiB is rejected naming the limit', async () => {
    const node = (i: number) => `<node id="v${i}"><data key="payload">${'x'.repeat(1000)}</data></node>`;
    const graphml = `<?xml version="1.0"?><graphml><graph edgedefault="directed">${Array.from({ length: 1100 }, (_, i) => node(i)).join('')}</graph></graphml>`;
    assert.ok(Buffer.byteLength(graphml) > 1024 * 1024);
    await rejects('POST', '/dags', { body: { name: 'huge', graphml } }, 400, /limit is 1048576/);
  });
});
