import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { z } from 'zod';

/**
 * Where a file is, as the payload will read it (docs/design.md §3 "Data"): an absolute POSIX path, an
 * XRootD URL (`root://host[:port]//path`) or an S3 object (`s3://bucket/key`). Registration is
 * idempotent on the *normalised* location, so two spellings of one file are one file.
 */

/** How a file was announced. */
export const Source = z.enum(['api', 's3', 'xrootd', 'watch']);
export type Source = z.infer<typeof Source>;

export interface NormalisedLocation {
  /** The canonical location string; what P3S_INPUT_FILE is set to. */
  location: string;
  scheme: 'posix' | 'root' | 's3';
  /** File name: the last path segment (the original's `name`). */
  name: string;
  /** Everything before the name, ending in `/` (the original's `dirpath`). */
  dirpath: string;
}

const MAX_LOCATION = 4096;
const XROOTD_DEFAULT_PORT = '1094';
const S3_BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export class LocationError extends Error {}

function split(full: string, tailStart: number): { name: string; dirpath: string } {
  const slash = full.lastIndexOf('/');
  if (slash < tailStart) throw new LocationError('has no file name');
  const name = full.slice(slash + 1);
  if (!name) throw new LocationError('names a directory (ends with /), not a file');
  return { name, dirpath: full.slice(0, slash + 1) };
}

/** `/a//b/./c` → `/a/b/c`; rejects `..` escaping the root and trailing slashes. */
function cleanPath(path: string): string {
  if (path.endsWith('/')) throw new LocationError('names a directory (ends with /), not a file');
  const p = posix.normalize(path);
  if (p === '/' || p.startsWith('/..')) throw new LocationError('has no file name');
  return p;
}

/**
 * Canonical form of a location. POSIX paths are made clean (`//`, `.`, `..` resolved);
 * `file://` URLs become paths; XRootD URLs get a lower-case host, lose the default port 1094
 * and keep one `//` before the absolute path; S3 keys are kept byte for byte (in S3 `a//b`
 * and `a/b` are different objects). Throws `LocationError` with the reason.
 */
export function normaliseLocation(raw: string): NormalisedLocation {
  const s = raw.trim();
  if (!s) throw new LocationError('is empty');
  if (s.length > MAX_LOCATION) throw new LocationError(`is longer than ${MAX_LOCATION} characters`);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point.
  if (/[\u0000-\u001f\u007f]/.test(s)) throw new LocationError('contains control characters');

  if (s.startsWith('/')) {
    const location = cleanPath(s);
    return { location, scheme: 'posix', ...split(location, 0) };
  }

  const file = /^file:\/\/(localhost)?(\/.*)$/i.exec(s);
  if (file) {
    let path: string;
    try {
      path = decodeURIComponent(file[2]!);
    } catch {
      throw new LocationError('is a file:// URL with bad %-escapes');
    }
    const location = cleanPath(path);
    return { location, scheme: 'posix', ...split(location, 0) };
  }

  const xrd = /^(x?roots?):\/\/([^/?#]+)(\/[^?#]*)?(\?[^#]*)?$/i.exec(s);
  if (xrd) {
    const scheme = xrd[1]!.toLowerCase().replace(/^x/, '');
    let host = xrd[2]!;
    const at = host.lastIndexOf('@');
    const user = at >= 0 ? host.slice(0, at + 1) : '';
    host = host.slice(at + 1).toLowerCase();
    if (host.endsWith(`:${XROOTD_DEFAULT_PORT}`)) host = host.slice(0, -XROOTD_DEFAULT_PORT.length - 1);
    if (!/^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d{1,5})?$/.test(host))
      throw new LocationError(`has a bad host "${host}"`);
    const path = `/${(xrd[3] ?? '').replace(/^\/+/, '')}`;
    const clean = cleanPath(path);
    const prefix = `${scheme}://${user}${host}/`;
    const location = `${prefix}${clean}${xrd[4] ?? ''}`;
    const { name, dirpath } = split(`${prefix}${clean}`, prefix.length + 1);
    return { location, scheme: 'root', name, dirpath };
  }

  const s3 = /^s3:\/\/([^/]+)\/(.+)$/i.exec(s);
  if (s3) {
    const bucket = s3[1]!;
    if (!S3_BUCKET.test(bucket)) throw new LocationError(`has a bad S3 bucket name "${bucket}"`);
    const location = `s3://${bucket}/${s3[2]!}`;
    return { location, scheme: 's3', ...split(location, `s3://${bucket}/`.length) };
  }

  throw new LocationError('must be an absolute POSIX path, a file://, root:// or s3:// URL');
}

/** The data item id: a hash of the normalised location (fixed length, safe in URLs). */
export function dataId(location: string): string {
  return createHash('sha256').update(location).digest('hex').slice(0, 32);
}

export const DataId = z.string().regex(/^[0-9a-f]{32}$/, 'not a data id (32 hex characters)');

/** A location string, validated and normalised (the zod issue names the field). */
export const LocationInput = z.string().transform((v, ctx) => {
  try {
    return normaliseLocation(v);
  } catch (err) {
    if (!(err instanceof LocationError)) throw err;
    ctx.addIssue({ code: 'custom', message: `location ${err.message}` });
    return z.NEVER;
  }
});
