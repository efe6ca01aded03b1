/** Repeated identical warnings and errors are collapsed into one line per minute (shared/log.ts). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type LogRecord, repeatLimiter } from '../../shared/log.ts';
import { waitFor } from '../helpers/stack.ts';

function limiter() {
  const out: LogRecord[] = [];
  let now = Date.parse('2026-12-06T10:00:00Z');
  const log = repeatLimiter((r) => out.push(r), { windowMs: 60_000, now: () => now });
  const at = (ms: number) => {
    now = Date.parse('2026-12-06T10:00:00Z') + ms;
  };
  const rec = (msg: string, fields: Record<string, unknown> = {}, level = 'error'): LogRecord => ({
    t: new Date(now).toISOString(),
    level,
    msg,
    ...fields,
  });
  return { out, log, at, rec };
}

describe('repeated log lines', () => {
  test('the first error is written at once, its repeats once a minute with their count', () => {
    const { out, log, at, rec } = limiter();
    for (let i = 0; i < 120; i++) {
      at(i * 500);
      log(rec('stream read failed', { table: 'jobs', err: 'ECONNREFUSED' }));
    }
    // 0 … 59.5 s: the first line only; the next one, 60 s after the first, ends the window.
    assert.deepEqual(
      out.map((r) => r.msg),
      ['stream read failed'],
    );
    at(60_000);
    log(rec('stream read failed', { table: 'jobs', err: 'ECONNREFUSED' }));
    assert.deepEqual(
      out.map((r) => r.msg),
      [
        'stream read failed',
        'stream read failed (repeated 119 times in the last 60 s)',
        'stream read failed',
      ],
    );
    assert.equal(out[1]!.table, 'jobs');
    assert.equal(out[1]!.err, 'ECONNREFUSED');
  });

  test('request ids, timestamps and sequence numbers do not make errors different; other fields do', () => {
    const { out, log, rec } = limiter();
    log(rec('unhandled error', { requestId: 'a', err: 'connect ECONNREFUSED' }));
    log(rec('unhandled error', { requestId: 'b', err: 'connect ECONNREFUSED' }));
    log(rec('stream batch dropped after retries', { function: 'matchmaker', records: ['1'] }));
    log(rec('stream batch dropped after retries', { function: 'matchmaker', records: ['2'] }));
    log(rec('stream batch dropped after retries', { function: 'jobEvents', records: ['3'] }));
    assert.deepEqual(
      out.map((r) => `${r.msg} ${r.requestId ?? r.function}`),
      [
        'unhandled error a',
        'stream batch dropped after retries matchmaker',
        'stream batch dropped after retries jobEvents',
      ],
    );
    log.flush();
    assert.equal(out.length, 5);
    assert.match(out[3]!.msg, /^unhandled error \(repeated 1 time in the last 1 s\)$/);
  });

  test('info and debug lines always pass; a repeat after its window is written again', () => {
    const { out, log, at, rec } = limiter();
    log(rec('ready', {}, 'info'));
    log(rec('ready', {}, 'info'));
    log(rec('DynamoDB Local exited', {}, 'error'));
    at(61_000);
    log(rec('DynamoDB Local exited', {}, 'error'));
    assert.deepEqual(
      out.map((r) => r.msg),
      ['ready', 'ready', 'DynamoDB Local exited', 'DynamoDB Local exited'],
    );
  });

  test('when the errors stop, their count is still written at the end of the window', async () => {
    const out: LogRecord[] = [];
    const log = repeatLimiter((r) => out.push(r), { windowMs: 60 });
    const rec = { t: '', level: 'warn', msg: 'scheduled function failed', function: 'reaper' };
    for (let i = 0; i < 5; i++) log(rec);
    assert.equal(out.length, 1);
    await waitFor(() => out.length === 2, { what: 'the summary line' });
    assert.match(out[1]!.msg, /^scheduled function failed \(repeated 4 times in the last \d+ s\)$/);
  });
});
