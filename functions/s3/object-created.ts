import type { S3Event } from 'aws-lambda';
import { config } from '../../shared/config.ts';
import type { Announcement } from '../../shared/core/data/data.ts';
import { normaliseLocation } from '../../shared/core/data/location.ts';
import { parseS3Event } from '../../shared/core/data/s3-event.ts';
import { registerFiles } from '../../shared/db/arrival.ts';
import { log } from '../../shared/log.ts';

const buckets = new Set(
  config()
    .P3S_DATA_BUCKETS.split(',')
    .map((b) => b.trim())
    .filter(Boolean),
);

/**
 * `s3:ObjectCreated:*` on the data bucket: registers each object as `s3://bucket/key` and fires
 * the rules. Records that cannot be used (other events, unknown buckets, bad keys) are logged
 * and skipped; a DynamoDB failure throws, and Lambda's retry repeats the (idempotent) batch.
 */
export const handler = async (event: S3Event): Promise<void> => {
  const { objects, skipped } = parseS3Event(event, buckets);
  for (const s of skipped) log.warn('s3 record skipped', { record: s.index, reason: s.reason });
  const files: Announcement[] = [];
  for (const o of objects) {
    try {
      files.push({ ...normaliseLocation(`s3://${o.bucket}/${o.key}`), size: o.size, source: 's3' });
    } catch (err) {
      log.warn('s3 record skipped', { bucket: o.bucket, key: o.key, reason: String((err as Error).message) });
    }
  }
  if (!files.length) return;
  const results = await registerFiles(files, { user: 's3' });
  for (const r of results)
    log.info('s3 object registered', {
      location: r.location,
      created: r.created,
      state: r.state,
      jobs: r.jobs.length,
    });
};
