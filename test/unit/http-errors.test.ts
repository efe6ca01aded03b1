import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { z } from 'zod';
import { ConflictError, NotFoundError, PayloadTooLargeError } from '../../shared/core/errors.ts';
import { toHttpError } from '../../shared/http/errors.ts';

process.env.P3S_LOG_LEVEL = 'silent'; // the 500 case logs the error on purpose

describe('errors become HTTP in one place', () => {
  test('a zod error is a 400 naming the field', () => {
    const r = z
      .object({ jobs: z.array(z.object({ priority: z.number() })) })
      .safeParse({ jobs: [{ priority: 'x' }] });
    const { status, body } = toHttpError(r.error, 'req-1', 'body');
    assert.equal(status, 400);
    assert.equal(body.code, 'invalid');
    assert.match(body.message, /^body\.jobs\[0\]\.priority: /);
  });

  test('domain errors keep their status and message', () => {
    assert.equal(toHttpError(new NotFoundError('job', 'j1'), 'r').status, 404);
    assert.equal(toHttpError(new ConflictError('busy'), 'r').status, 409);
    assert.equal(toHttpError(new PayloadTooLargeError(1000), 'r').status, 413);
  });

  test("a function's timeout is a 503 that says part of the request may have been applied", () => {
    const err = new Error('[AbortError]: The operation was aborted.');
    err.name = 'TimeoutError';
    const { status, body } = toHttpError(err, 'req-7');
    assert.equal(status, 503);
    assert.equal(body.code, 'timeout');
    assert.match(body.message, /did not finish in time \(request req-7\).*check before retrying/);
  });

  test('anything else is a 500 with the request id and never the error text', () => {
    const { status, body } = toHttpError(new Error('secret table name p3s-prod-jobs'), 'req-9');
    assert.equal(status, 500);
    assert.equal(body.message, 'internal error (request req-9)');
  });
});
