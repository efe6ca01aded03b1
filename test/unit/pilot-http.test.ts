/** The pilot's HTTP client against a small local server: retries, backoff, final answers. */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, beforeEach, describe, test } from 'node:test';
import {
  AuthError,
  backoffDelay,
  DEFAULT_BACKOFF,
  PilotClient,
  RejectedError,
  StoppedError,
  UnreachableError,
} from '../../pilot/http.ts';
import { createLogger } from '../../pilot/log.ts';
import type { Registration } from '../../pilot/protocol.ts';
import { type FakeServer, startFakeServer, until } from './pilot-fake-server.ts';

const log = createLogger({ level: 'silent', json: false });
const fast = { baseMs: 1, maxMs: 5 };
const reg: Registration = {
  id: '00000000-0000-4000-8000-000000000001',
  key: 'k'.repeat(43),
  host: 'wn042',
  pid: 1,
  version: 'test',
  resources: { cpus: 1, memoryMb: 1 },
};

let fake: FakeServer;
before(async () => {
  fake = await startFakeServer();
});
after(() => fake.close());
beforeEach(() => {
  fake.requests.length = 0;
  fake.reports.length = 0;
  fake.override = undefined;
});

function client(over: Partial<ConstructorParameters<typeof PilotClient>[0]> = {}): PilotClient {
  return new PilotClient({
    server: fake.url,
    token: 'p3s_tok',
    pilotId: reg.id,
    key: reg.key,
    log,
    backoff: fast,
    ...over,
  });
}

/** Answers the first `n` matching requests with `status`, then falls through. */
function failFirst(n: number, status: number) {
  let left = n;
  fake.override = () => (left-- > 0 ? { status, body: { code: 'boom' } } : undefined);
}

describe('backoff', () => {
  test('doubles from 0.2 s to a 30 s ceiling, jittered between half and all of it', () => {
    const ceilings = [200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000];
    ceilings.forEach((c, attempt) => {
      assert.equal(
        backoffDelay(attempt, DEFAULT_BACKOFF, () => 0.999999),
        c,
        `attempt ${attempt} max`,
      );
      assert.equal(
        backoffDelay(attempt, DEFAULT_BACKOFF, () => 0),
        c / 2,
        `attempt ${attempt} min`,
      );
    });
    assert.equal(
      backoffDelay(5000, DEFAULT_BACKOFF, () => 0.5),
      22500,
      'no overflow for huge attempts',
    );
  });
});

describe('pilot HTTP client', () => {
  test('register sends the token but no pilot key; later calls send both', async () => {
    await client().register(reg);
    await client().poll(0);
    const [r, p] = fake.requests;
    assert.equal(r?.headers.authorization, 'Bearer p3s_tok');
    assert.equal(r?.headers['x-p3s-pilot-key'], undefined);
    assert.deepEqual(r?.body, reg);
    assert.equal(p?.path, `/pilots/${reg.id}/poll`);
    assert.deepEqual(p?.body, { wait: 0 });
    assert.equal(p?.headers['x-p3s-pilot-key'], reg.key);
  });

  test('register returns the site config from the answer', async () => {
    const config = await client().register(reg);
    assert.deepEqual(config, { beat: 5, longpoll: 20, period: 5, cycles: 0, lifetime: 90000, env: {} });
  });

  test('5xx answers are retried until one is accepted', async () => {
    failFirst(3, 503);
    const r = await client().report({ event: 'jobstop', jobId: 'j', exitCode: 0 });
    assert.deepEqual(r, { ok: true, action: 'none' });
    assert.equal(fake.requests.length, 4);
    assert.deepEqual(
      fake.reports.map((b) => b.event),
      ['jobstop', 'jobstop', 'jobstop', 'jobstop'],
    );
  });

  test('a 409 to a report ends it at once, without retries', async () => {
    fake.override = () => ({ status: 409, body: { code: 'conflict', message: 'job is not yours' } });
    const r = await client().report({ event: 'jobstop', jobId: 'j', exitCode: 0 });
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.status, 409);
    assert.match(!r.ok ? r.message : '', /job is not yours/);
    assert.equal(fake.requests.length, 1);
  });

  test('the action in a report answer is passed back', async () => {
    fake.override = () => ({ status: 200, body: { status: 'ok', action: 'killjob' } });
    assert.deepEqual(await client().report({ event: 'heartbeat' }), { ok: true, action: 'killjob' });
  });

  test('401/403 on register is an AuthError, not retried', async () => {
    fake.override = () => ({ status: 401, body: { code: 'unauthorized', message: 'token revoked' } });
    await assert.rejects(client().register(reg), (err: Error) => {
      assert.ok(err instanceof AuthError);
      assert.match(err.message, /HTTP 401 token revoked/);
      return true;
    });
    fake.override = () => ({ status: 403, body: {} });
    await assert.rejects(client().report({ event: 'heartbeat' }), AuthError);
    assert.equal(fake.requests.length, 2);
  });

  test('a 409 on register or poll is a RejectedError', async () => {
    fake.override = () => ({ status: 409, body: { message: 'pilot is stopped' } });
    await assert.rejects(client().poll(0), RejectedError);
    await assert.rejects(client().register(reg), RejectedError);
    assert.equal(fake.requests.length, 2);
  });

  test('a 200 with an unusable body (a proxy page) is retried like an outage', async () => {
    let left = 2;
    fake.override = () => (left-- > 0 ? { status: 200, text: '<html>gateway</html>' } : undefined);
    assert.deepEqual(await client().poll(0), { state: 'no jobs', retryAfter: 0 });
    assert.equal(fake.requests.length, 3);
  });

  test('a request that gets no answer times out and is retried', async () => {
    let hung = false;
    fake.override = async () => {
      if (hung) return undefined;
      hung = true;
      return new Promise(() => {}); // never answers
    };
    const r = await client({ timeoutMs: 200 }).report({ event: 'jobstart', jobId: 'j', pid: 1 });
    assert.deepEqual(r, { ok: true, action: 'none' });
    assert.equal(fake.requests.length, 2);
  });

  test('an unreachable server is retried with backoff until told to stop', async () => {
    const port = await closedPort();
    const stop = new AbortController();
    let failures = 0;
    const counting = createLogger({
      level: 'warn',
      json: true,
      write: (line) => {
        if (JSON.parse(line).msg === 'server request failed, retrying' && ++failures === 5) stop.abort();
      },
    });
    const c = client({ server: `http://127.0.0.1:${port}`, log: counting });
    await assert.rejects(
      c.report({ event: 'jobstop', jobId: 'j' }, { until: stop.signal }),
      UnreachableError,
    );
    assert.equal(failures, 5);
  });

  test('retry: false makes one attempt only', async () => {
    failFirst(1, 502);
    await assert.rejects(client().report({ event: 'heartbeat' }, { retry: false }), UnreachableError);
    assert.equal(fake.requests.length, 1);
  });

  test('aborting the signal ends a held poll at once with StoppedError', async () => {
    fake.override = () => new Promise(() => {}); // holds the poll forever
    const stop = new AbortController();
    const polling = client().poll(20, { signal: stop.signal });
    await until('the poll to arrive', () => fake.requests.length === 1);
    stop.abort();
    await assert.rejects(polling, StoppedError);
  });
});

async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as { port: number };
  await new Promise((resolve) => srv.close(resolve));
  return port;
}
