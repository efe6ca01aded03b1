/**
 * Counter writes of a stream batch are idempotent: Lambda retries a failed batch with the same
 * records, and the retry must not count them again (StatsDelta.flush with the batch identity).
 * Against DynamoDB Local, which honours TransactWriteItems' ClientRequestToken.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { counters, StatsDelta } from '../../shared/db/stats.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

let s: TestStack;
before(async () => {
  s = await startTestStack();
});
after(async () => {
  await s.close();
});

const delta = (n: number) => {
  const d = new StatsDelta();
  d.add('count', 'probe#a', 'n', n);
  d.add('count', 'probe#b', 'n', 2 * n);
  return d;
};
const probe = async () => (await counters()).probe ?? {};

describe('stats counters under retried batches', () => {
  test('the same batch flushed twice counts once; another batch counts again', async () => {
    await delta(3).flush('arn#1#9#4');
    await delta(3).flush('arn#1#9#4'); // the retry of that batch
    assert.deepEqual(await probe(), { a: 3, b: 6 });
    await delta(1).flush('arn#10#12#2');
    assert.deepEqual(await probe(), { a: 4, b: 8 });
  });

  test('a batch touching more than 100 counters is split, and its retry still counts once', async () => {
    const big = () => {
      const d = new StatsDelta();
      for (let i = 0; i < 150; i++) d.add('count', `wide#k${i}`, 'n', 1);
      return d;
    };
    await big().flush('arn#20#400#150');
    await big().flush('arn#20#400#150');
    const wide = (await counters()).wide ?? {};
    assert.equal(Object.keys(wide).length, 150);
    assert.ok(
      Object.values(wide).every((v) => v === 1),
      JSON.stringify(wide),
    );
  });

  test('without a batch identity (direct callers) every flush counts', async () => {
    await delta(5).flush();
    await delta(5).flush();
    const p = await probe();
    assert.equal(p.a, 4 + 10);
  });
});
