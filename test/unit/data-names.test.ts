/** How hostile file names are shown and refused (pure). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeName, escapeName } from '../../shared/core/data/names.ts';

describe('file names', () => {
  test('escapeName keeps printable text and puts the rest on one line, recoverably', () => {
    assert.equal(escapeName('run 9.root'), '"run 9.root"');
    assert.equal(escapeName('élan_ü.root'), '"élan_ü.root"');
    assert.equal(escapeName('a\nb\rc\td'), '"a\\nb\\rc\\td"');
    assert.equal(escapeName('x\u0001\u001b[31m\u007f'), '"x\\u0001\\u001b[31m\\u007f"');
    assert.equal(escapeName('q"b\\s'), '"q\\"b\\\\s"');
    assert.equal(escapeName('line\u2028sep'), '"line\\u2028sep"');
  });

  test('bytes that are not UTF-8 are shown as \\xNN, the valid ones around them as text', () => {
    assert.equal(escapeName(Buffer.from([0x61, 0xff, 0xfe, 0x62])), '"a\\xff\\xfeb"');
    assert.equal(escapeName(Buffer.from('é\u0001', 'utf8')), '"é\\u0001"');
    // A truncated sequence (the first byte of é alone) is a bad byte, not a character.
    assert.equal(escapeName(Buffer.from([0x78, 0xc3])), '"x\\xc3"');
  });

  test('decodeName refuses what is not UTF-8 and passes the rest unchanged', () => {
    assert.deepEqual(decodeName(Buffer.from('a b=1.root')), { ok: true, name: 'a b=1.root' });
    assert.deepEqual(decodeName(Buffer.from([0x61, 0xff])), {
      ok: false,
      reason: 'the name is not valid UTF-8',
    });
  });
});
