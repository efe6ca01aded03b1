/** The pilot's quote-aware splitter for direct-mode payloads. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { splitArgs } from '../../pilot/split-args.ts';

describe('splitArgs', () => {
  test('blanks separate words, runs of blanks count once', () => {
    assert.deepEqual(splitArgs('  run.sh  -v\t--in  file.root \n'), ['run.sh', '-v', '--in', 'file.root']);
    assert.deepEqual(splitArgs(''), []);
  });

  test('single quotes keep everything literally, backslashes included', () => {
    assert.deepEqual(splitArgs(`a 'b c' 'd\\e' '$HOME'`), ['a', 'b c', 'd\\e', '$HOME']);
  });

  test('double quotes keep blanks and honour \\" \\\\ \\$ \\` only', () => {
    assert.deepEqual(splitArgs(`"a b" "c\\"d" "e\\\\f" "g\\$h" "i\\nj"`), [
      'a b',
      'c"d',
      'e\\f',
      'g$h',
      'i\\nj',
    ]);
  });

  test('a backslash outside quotes escapes the next character', () => {
    assert.deepEqual(splitArgs('a\\ b c\\"d e\\\\'), ['a b', 'c"d', 'e\\']);
  });

  test('quoted and plain parts next to each other form one word; empty quotes are a word', () => {
    assert.deepEqual(splitArgs(`--x='1 2'"3"4 '' ""`), ['--x=1 234', '', '']);
  });

  test('unterminated quotes and a trailing backslash are errors', () => {
    assert.throws(() => splitArgs(`echo 'oops`), /unterminated single quote/);
    assert.throws(() => splitArgs(`echo "oops`), /unterminated double quote/);
    assert.throws(() => splitArgs('echo oops\\'), /ends with a backslash/);
  });

  test('any argv survives being single-quoted by a shell-style quoter and split again', () => {
    const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
    fc.assert(
      fc.property(fc.array(fc.string(), { minLength: 1, maxLength: 6 }), (argv) => {
        assert.deepEqual(splitArgs(argv.map(quote).join(' ')), argv);
      }),
    );
  });
});
