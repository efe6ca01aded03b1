import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { tableSnapshot } from '../helpers/routes.ts';
import { startTestStack, type TestStack, waitFor } from '../helpers/stack.ts';

let s: TestStack;
before(async () => {
  s = await startTestStack();
});
after(async () => {
  await s.close();
});

async function create(body: Record<string, unknown>) {
  const r = await s.call('POST', '/tokens', { body });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body as { id: string; token: string; role: string; expiresAt?: string };
}

const summaryAs = (token: string) => s.call('GET', '/summary', { token });

describe('tokens', () => {
  test('the secret is shown once: listed tokens carry neither it nor its hash', async () => {
    const t = await create({ role: 'operator', name: 'ops' });
    assert.match(t.token, /^p3s_[A-Za-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
    const list = (await s.call('GET', '/tokens')).body.tokens as Record<string, unknown>[];
    const row = list.find((x) => x.id === t.id)!;
    assert.deepEqual(Object.keys(row).sort(), ['createdAt', 'id', 'name', 'role']);
    assert.ok(!JSON.stringify(list).includes(t.token.split('_')[2]!), 'no secret in the list');
  });

  test('the table stores only the SHA-256 of the secret', async () => {
    const t = await create({ role: 'viewer' });
    const secret = t.token.slice(`p3s_${t.id}_`.length);
    const items = (await tableSnapshot(s)).tokens!.map((x) => JSON.parse(x));
    const item = items.find((x) => x.id === t.id);
    assert.equal(item.hash, createHash('sha256').update(secret).digest('hex'));
    assert.ok(!JSON.stringify(items).includes(secret), 'the secret is stored nowhere');
  });

  test('unknown id, wrong secret, revoked and expired tokens all get the same 401', async () => {
    const live = await create({ role: 'admin' });
    const revoked = await create({ role: 'admin' });
    await s.call('DELETE', `/tokens/${revoked.id}`);
    const expired = await create({ role: 'admin', expiresAt: new Date(Date.now() - 1000).toISOString() });
    const forged = [
      `p3s_AAAAAAAAAAAA_${'A'.repeat(43)}`,
      `p3s_${live.id}_${'A'.repeat(43)}`,
      revoked.token,
      expired.token,
    ];
    const answers = await Promise.all(forged.map(summaryAs));
    for (const r of answers) {
      assert.equal(r.status, 401);
      assert.deepEqual(r.body, answers[0]!.body, 'no oracle: every bad token reads alike');
    }
    assert.equal((await summaryAs(live.token)).status, 200);
  });

  test('a token stops working when it expires', async () => {
    const t = await create({ role: 'viewer', expiresAt: new Date(Date.now() + 1500).toISOString() });
    assert.equal((await summaryAs(t.token)).status, 200, 'works before its expiry (and is cached)');
    await waitFor(async () => (await summaryAs(t.token)).status === 401, {
      timeoutMs: 10_000,
      intervalMs: 200,
      what: 'the token to expire',
    });
  });

  test('expiresInDays sets the expiry; out-of-range expiries are 400', async () => {
    const t = await create({ role: 'viewer', expiresInDays: 30 });
    const days = (Date.parse(t.expiresAt!) - Date.now()) / 86400_000;
    assert.ok(days > 29.9 && days <= 30, `expires in ${days} days`);
    for (const body of [
      { role: 'viewer', expiresInDays: 0 },
      { role: 'viewer', expiresInDays: 4000 },
      { role: 'viewer', expiresAt: 'tomorrow' },
    ]) {
      const r = await s.call('POST', '/tokens', { body });
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.match(r.body.message, /^body\.expires/);
    }
  });

  test('revoking is immediate, idempotent, and 404 for an unknown id', async () => {
    const t = await create({ role: 'submitter' });
    assert.equal((await summaryAs(t.token)).status, 200);
    const first = await s.call('DELETE', `/tokens/${t.id}`);
    assert.equal(first.status, 200);
    assert.equal((await summaryAs(t.token)).status, 401, 'revoked at once on this container');
    const again = await s.call('DELETE', `/tokens/${t.id}`);
    assert.equal(again.body.revokedAt, first.body.revokedAt, 'revoking again keeps the first time');
    assert.equal((await s.call('DELETE', '/tokens/AAAAAAAAAAAA')).status, 404);
    assert.equal((await s.call('DELETE', '/tokens/not-an-id')).status, 400);
  });

  test('a revoked admin token cannot make tokens', async () => {
    const t = await create({ role: 'admin' });
    await s.call('DELETE', `/tokens/${t.id}`);
    const r = await s.call('POST', '/tokens', { token: t.token, body: { role: 'admin' } });
    assert.equal(r.status, 401);
  });
});
