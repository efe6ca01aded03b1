/**
 * S3 `ObjectCreated` notifications. AWS URL-encodes object keys in events (like a form: `+`
 * for a space, `%XX` for the rest), so a key must be decoded before it names an object; the
 * local stack encodes s3rver's raw keys the same way, so this is the only decoding there is.
 */

export interface S3Object {
  bucket: string;
  /** The decoded key, byte for byte the object's name. */
  key: string;
  size?: number;
  eventName: string;
  eTag?: string;
  sequencer?: string;
  eventTime?: string;
}

export interface SkippedRecord {
  index: number;
  reason: string;
}

/** `incoming/a+b%2Bc.txt` → `incoming/a b+c.txt`. Throws URIError on a malformed escape. */
export function decodeS3Key(key: string): string {
  return decodeURIComponent(key.replace(/\+/g, ' '));
}

/**
 * The key as AWS puts it in an event: every byte but `A-Z a-z 0-9 - _ . * /` (and `~`) is
 * %-encoded, a space becomes `+`.
 */
export function encodeS3Key(key: string): string {
  return encodeURIComponent(key)
    .replace(/%2F/g, '/')
    .replace(/[!'()]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}

type Dict = Record<string, unknown>;
const isDict = (v: unknown): v is Dict => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The objects of an S3 notification event. Records that are not object creations, name a
 * bucket outside `buckets` (when given), or cannot be decoded are returned in `skipped` with
 * the reason, and the others are still returned — one bad record never hides a good one.
 */
export function parseS3Event(
  event: unknown,
  buckets?: ReadonlySet<string>,
): { objects: S3Object[]; skipped: SkippedRecord[] } {
  const objects: S3Object[] = [];
  const skipped: SkippedRecord[] = [];
  const records = isDict(event) && Array.isArray(event.Records) ? event.Records : undefined;
  if (!records) return { objects, skipped: [{ index: -1, reason: 'not an S3 event (no Records list)' }] };
  for (const [index, r] of (records as unknown[]).entries()) {
    const skip = (reason: string) => void skipped.push({ index, reason });
    if (!isDict(r) || !isDict(r.s3)) {
      skip('record without s3');
      continue;
    }
    if (r.eventSource !== undefined && r.eventSource !== 'aws:s3') {
      skip(`eventSource ${String(r.eventSource)}`);
      continue;
    }
    const eventName = typeof r.eventName === 'string' ? r.eventName : '';
    if (!eventName.startsWith('ObjectCreated:')) {
      skip(`event ${eventName || '(none)'} is not ObjectCreated`);
      continue;
    }
    const bucket = isDict(r.s3.bucket) ? r.s3.bucket.name : undefined;
    const obj = isDict(r.s3.object) ? r.s3.object : undefined;
    if (typeof bucket !== 'string' || !bucket) {
      skip('no bucket name');
      continue;
    }
    if (buckets?.size && !buckets.has(bucket)) {
      skip(`unknown bucket ${bucket}`);
      continue;
    }
    if (!obj || typeof obj.key !== 'string' || !obj.key) {
      skip('no object key');
      continue;
    }
    let key: string;
    try {
      key = decodeS3Key(obj.key);
    } catch {
      skip(`key ${obj.key} is not URL-encoded correctly`);
      continue;
    }
    const size = typeof obj.size === 'number' && obj.size >= 0 ? obj.size : undefined;
    objects.push({
      bucket,
      key,
      size,
      eventName,
      eTag: typeof obj.eTag === 'string' ? obj.eTag : undefined,
      sequencer: typeof obj.sequencer === 'string' ? obj.sequencer : undefined,
      eventTime: typeof r.eventTime === 'string' ? r.eventTime : undefined,
    });
  }
  return { objects, skipped };
}
