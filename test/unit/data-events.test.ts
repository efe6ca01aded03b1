import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { decodeS3Key, encodeS3Key, parseS3Event } from '../../shared/core/data/s3-event.ts';

const s3fixture = (name: string) =>
  JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures', 's3', name), 'utf8'));
const BUCKETS = new Set(['p3s-local-data']);

describe('S3 events', () => {
  test('an AWS Put event: the URL-encoded key is decoded (+ is a space)', () => {
    const { objects, skipped } = parseS3Event(s3fixture('put-encoded-key.json'), BUCKETS);
    assert.deepEqual(skipped, []);
    assert.equal(objects.length, 1);
    assert.equal(objects[0]!.key, 'incoming/run=42/np04_raw run042 (copy).root');
    assert.equal(objects[0]!.size, 1305107);
    assert.equal(objects[0]!.eventName, 'ObjectCreated:Put');
  });

  test('a multipart upload with a UTF-8 key, an encoded + and an encoded /', () => {
    const { objects } = parseS3Event(s3fixture('multipart-unicode.json'), BUCKETS);
    assert.equal(objects[0]!.key, 'incoming/café +1/not-a-dir.txt');
    assert.equal(objects[0]!.eventName, 'ObjectCreated:CompleteMultipartUpload');
  });

  test('bad records are skipped with a reason and the good one after them is kept', () => {
    const { objects, skipped } = parseS3Event(s3fixture('mixed-bad-then-good.json'), BUCKETS);
    assert.deepEqual(
      objects.map((o) => o.key),
      ['incoming/good one.txt'],
    );
    assert.deepEqual(
      skipped.map((s) => s.index),
      [0, 1, 2, 3],
    );
    assert.match(skipped[0]!.reason, /unknown bucket somebody-elses-bucket/);
    assert.match(skipped[1]!.reason, /not ObjectCreated/);
    assert.match(skipped[2]!.reason, /not URL-encoded/);
    assert.match(skipped[3]!.reason, /without s3/);
  });

  test('without a bucket list every bucket is accepted; a non-event is one skip', () => {
    assert.equal(parseS3Event(s3fixture('mixed-bad-then-good.json')).objects.length, 2);
    assert.deepEqual(parseS3Event({ hello: 1 }).skipped.length, 1);
  });

  test('encoding as AWS does and decoding round-trips every key', () => {
    assert.equal(encodeS3Key('incoming/a b+(c)!.txt'), 'incoming/a+b%2B%28c%29%21.txt');
    fc.assert(
      fc.property(fc.string({ unit: 'binary', minLength: 1 }), (k) => decodeS3Key(encodeS3Key(k)) === k),
    );
  });
});
