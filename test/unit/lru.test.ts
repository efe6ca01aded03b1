import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Lru } from '../../shared/core/util/lru.ts';

describe('LRU cache', () => {
  test('a full cache forgets only the least recently used entry, one at a time', () => {
    const c = new Lru<string, number>(3);
    c.set('a', 1);
    c.set('b', 2);
    c.set('c', 3);
    assert.equal(c.get('a'), 1, 'a hit makes `a` the most recent');
    c.set('d', 4);
    assert.equal(c.size, 3);
    assert.equal(c.get('b'), undefined, '`b` was the least recently used');
    assert.deepEqual(
      ['a', 'c', 'd'].map((k) => c.get(k)),
      [1, 3, 4],
      'the others stay: no wholesale clear',
    );
  });

  test('peek does not count as a use; set replaces; delete forgets', () => {
    const c = new Lru<string, number>(2);
    c.set('a', 1);
    c.set('b', 2);
    assert.equal(c.peek('a'), 1);
    c.set('c', 3);
    assert.equal(c.peek('a'), undefined, 'peeked, still the oldest');
    c.set('b', 20);
    assert.equal(c.get('b'), 20);
    c.delete('b');
    assert.equal(c.get('b'), undefined);
    assert.equal(c.size, 1);
  });
});
