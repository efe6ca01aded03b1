import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { formatToken, newTokenId } from '../../shared/core/auth/token.ts';
import { keyString, watchDynamo } from '../helpers/dynamo-watch.ts';
import { type HttpContainer, startHttpContainer } from '../helpers/http-container.ts';
import { startTestStack, type TestStack, waitFor } from '../helpers/stack.ts';

/**
 * The limit on failed authentications per source address (shared/http/auth-limit.ts): a burst of
 * BURST failures, refilled at PER_MIN a minute; past it a 429 before any look-up, except for
 * tokens this container has already verified. Per container. Requests come from 127.0.0.1 and,
 * for "another address", from 127.0.0.2 (the loopback network answers on both).
 */
const BURST = 5;
const PER_MIN = 30;

let s: TestStack;
let other: HttpContainer | undefined;
let viewer: string;
/** Reads of the tokens table by the stack's handlers in this process. */
let tokenReads = 0;
let unwatch: () => void;

before(async () => {
  s = await startTestStack({ P3S_AUTH_FAIL_BURST: String(BURST), P3S_AUTH_FAIL_PER_MIN: String(PER_MIN) });
  viewer = (await s.call('POST', '/tokens', { body: { role: 'viewer' } })).body.token;
  unwatch = watchDynamo((c) => {
    if (c.command === 'GetItem' && c.table.endsWith('-tokens') && keyString(c.input.Key?.id) !== '-')
      tokenReads++;
  });
});
after(async () => {
  unwatch?.();
  await other?.stop();
  await s.close();
});

const unknownToken = () => formatToken(newTokenId(), randomBytes(32).toString('base64url'));

/** GET `path` from the given local address, with `token` as a bearer token (or a cookie). */
function get(
  path: string,
  token: string,
  opts: { from?: string; base?: string; cookie?: boolean } = {},
): Promise<{ status: number; headers: Record<string, unknown>; body: any }> {
  const url = new URL(path, opts.base ?? s.url);
  const headers = opts.cookie
    ? { cookie: `p3s_token=${encodeURIComponent(token)}`, accept: 'text/html' }
    : { authorization: `Bearer ${token}` };
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        headers,
        localAddress: opts.from ?? '127.0.0.1',
      },
      (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => {
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {}
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('failed authentications per source address', () => {
  test('past the burst an address gets 429 with Retry-After, and its tokens are not looked up', async () => {
    assert.equal((await get('/summary', viewer)).status, 200, 'the viewer token is verified once');
    for (let i = 0; i < BURST; i++)
      assert.equal((await get('/summary', unknownToken())).status, 401, `failure ${i + 1}`);
    const readsBefore = tokenReads;
    const limited = await get('/summary', unknownToken());
    assert.equal(limited.status, 429);
    assert.equal(limited.body.code, 'rate_limited');
    assert.match(
      limited.body.message,
      /^too many failed authentications from 127\.0\.0\.1; try again in \d+ s$/,
    );
    assert.ok(Number(limited.headers['retry-after']) >= 1, `Retry-After: ${limited.headers['retry-after']}`);
    for (const path of ['/jobs', '/pilots', '/tokens'])
      assert.equal((await get(path, unknownToken())).status, 429);
    assert.equal(tokenReads, readsBefore, 'no read of the tokens table while limited');
  });

  test('while limited, a token this container already verified still works; a new one waits', async () => {
    assert.equal(
      (await get('/summary', viewer)).status,
      200,
      'a client behind the same address (NAT) goes on',
    );
    const fresh = (await s.call('POST', '/tokens', { body: { role: 'viewer' } })).body.token as string;
    assert.equal(
      (await get('/summary', fresh)).status,
      429,
      'never seen here: refused until the bucket refills',
    );
    // The monitor's pages and its sign-in form are limited the same way.
    const page = await get('/monitor/jobs', unknownToken(), { cookie: true });
    assert.equal(page.status, 429);
    const form = await new Promise<number>((resolve, reject) => {
      const body = new URLSearchParams({ token: unknownToken(), next: '/' }).toString();
      const url = new URL('/monitor/signin', s.url);
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            'content-length': Buffer.byteLength(body),
          },
          localAddress: '127.0.0.1',
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
    assert.equal(form, 429, 'the sign-in form too');
  });

  test('another address is not limited, nor is another container', async () => {
    assert.equal((await get('/summary', unknownToken(), { from: '127.0.0.2' })).status, 401);
    other = await startHttpContainer(s, {
      P3S_AUTH_FAIL_BURST: String(BURST),
      P3S_AUTH_FAIL_PER_MIN: String(PER_MIN),
    });
    assert.equal((await get('/summary', unknownToken(), { base: other.url })).status, 401, 'its own count');
  });

  test('the bucket refills: the address may fail again after Retry-After', async () => {
    // (The container start above gave the bucket time to refill a little: empty it again.)
    let r = await get('/summary', unknownToken());
    for (let i = 0; r.status === 401 && i < BURST; i++) r = await get('/summary', unknownToken());
    assert.equal(r.status, 429);
    await waitFor(async () => (await get('/summary', unknownToken())).status === 401, {
      timeoutMs: (Number(r.headers['retry-after']) + 3) * 1000,
      intervalMs: 250,
      what: 'the limit to lift',
    });
  });
});
