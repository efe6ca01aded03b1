import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { clip, FIELD_ORDER, ordered, table } from '../../scripts/cli/output.ts';

describe('CLI output', () => {
  test('a value longer than its column ends in an ellipsis, never cut silently', () => {
    const path = `/data/p3s/run5141/${'x'.repeat(80)}/np04_raw_run005141_0001.root`;
    const t = table([{ id: 'a', location: path }], ['id', 'location'], undefined);
    const row = t.split('\n')[1]!;
    assert.ok(row.endsWith('…'), row);
    assert.equal([...row.split(/\s{2,}/)[1]!].length, 60);
    assert.equal(clip('short', 10), 'short');
    assert.equal(clip('abcdef', 4), 'abc…');
  });

  test('a table wider than the terminal narrows its widest columns to fit', () => {
    const rows = [{ id: 'f'.repeat(36), name: 'n'.repeat(50), state: 'finished', payload: 'p'.repeat(60) }];
    const t = table(rows, ['id', 'name', 'state', 'payload'], 100);
    for (const line of t.split('\n')) assert.ok([...line].length <= 100, `${[...line].length}: ${line}`);
    assert.match(t, /finished/, 'narrow columns are left whole');
  });

  test('newlines in a value do not break the table', () => {
    const t = table([{ a: 'one\ntwo', b: 'x' }], ['a', 'b'], undefined);
    assert.equal(t.split('\n').length, 2);
  });

  test('show orders fields: id first, then as the monitor, then the rest by name', () => {
    const job = { zeta: 1, state: 'finished', env: {}, name: 'n', id: 'i', createdAt: 't', alpha: 2 };
    assert.deepEqual(Object.keys(ordered(job, FIELD_ORDER.job)), [
      'id',
      'name',
      'state',
      'createdAt',
      'env',
      'alpha',
      'zeta',
    ]);
  });
});
