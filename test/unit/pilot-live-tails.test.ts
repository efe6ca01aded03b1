import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { LIVE_TAIL_BYTES, liveTails } from '../../pilot/live-tails.ts';

describe('pilot: output tails on heartbeats', () => {
  test('tails are sent when the output grew, bounded, and not again while it does not', () => {
    const dir = mkdtempSync(join(tmpdir(), 'p3s-live-'));
    const job = '6f1c1a52-2f64-4c0e-9d0e-1f1d3c2b4a59';
    assert.deepEqual(liveTails(dir, job), {}, 'no files yet: nothing');
    writeFileSync(join(dir, `${job}.out`), `${'x'.repeat(5000)}\nevent 1 done\n`);
    writeFileSync(join(dir, `${job}.err`), 'warning: cold start\n');
    const first = liveTails(dir, job);
    assert.ok(first.stdoutTail!.endsWith('event 1 done\n'));
    assert.ok(Buffer.byteLength(first.stdoutTail!) <= LIVE_TAIL_BYTES, 'bounded');
    assert.equal(first.stderrTail, 'warning: cold start\n');
    assert.deepEqual(liveTails(dir, job), {}, 'unchanged: nothing');
    appendFileSync(join(dir, `${job}.err`), 'warning: again\n');
    assert.equal(liveTails(dir, job).stderrTail, 'warning: cold start\nwarning: again\n');
  });
});
