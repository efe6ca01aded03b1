import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

let s: TestStack;
before(async () => {
  s = await startTestStack();
});
after(async () => {
  await s.close();
});

describe('tokens and auth', () => {
  test('healthz answers without a token', async () => {
    const r = await s.call('GET', '/healthz', { token: null });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { status: 'ok' });
  });

  test('a request without a token is 401 and names the problem', async () => {
    const r = await s.call('GET', '/summary', { token: null });
    assert.equal(r.status, 401);
    assert.equal(r.body.code, 'unauthorized');
    assert.match(r.body.message, /missing bearer token/);
  });

  test('a malformed token is 401', async () => {
    const r = await s.call('GET', '/summary', { token: 'p3s_nonsense' });
    assert.equal(r.status, 401);
  });

  test('an admin creates a viewer token that can read but not create tokens', async () => {
    const created = await s.call('POST', '/tokens', { body: { role: 'viewer', name: 'screen' } });
    assert.equal(created.status, 201);
    assert.match(created.body.token, /^p3s_[A-Za-z0-9]{12}_/);
    const viewer = created.body.token as string;
    assert.equal((await s.call('GET', '/summary', { token: viewer })).status, 200);
    const denied = await s.call('POST', '/tokens', { token: viewer, body: { role: 'admin' } });
    assert.equal(denied.status, 403);
    const list = await s.call('GET', '/tokens');
    const row = list.body.tokens.find((t: { id: string }) => t.id === created.body.id);
    assert.equal(row.role, 'viewer');
    assert.equal(row.hash, undefined, 'the hash is never listed');
    assert.equal(row.token, undefined, 'the secret is never listed');
  });

  test('a revoked token stops working', async () => {
    const created = await s.call('POST', '/tokens', { body: { role: 'viewer' } });
    const revoked = await s.call('DELETE', `/tokens/${created.body.id}`);
    assert.equal(revoked.status, 200);
    assert.ok(revoked.body.revokedAt);
    const r = await s.call('GET', '/summary', { token: created.body.token });
    assert.equal(r.status, 401);
  });

  test('malformed JSON is a 400 naming the body, not 415 or 500', async () => {
    const r = await s.call('POST', '/tokens', {
      raw: '{"role":',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(r.status, 400);
    assert.match(r.body.message, /malformed JSON/);
  });

  test('an unknown role is a 400 naming the field, and creates nothing', async () => {
    const before = (await s.call('GET', '/tokens')).body.tokens.length;
    const r = await s.call('POST', '/tokens', { body: { role: 'root' } });
    assert.equal(r.status, 400);
    assert.match(r.body.message, /^body\.role:/);
    assert.equal((await s.call('GET', '/tokens')).body.tokens.length, before);
  });

  test('an unknown route is 404', async () => {
    const r = await s.call('GET', '/no/such/route');
    assert.equal(r.status, 404);
  });
});
