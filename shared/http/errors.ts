import { ZodError } from 'zod';
import { P3sError } from '../core/errors.ts';
import { log } from '../log.ts';

const STATUS: Record<string, number> = {
  invalid: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  too_large: 413,
};

export interface ErrorBody {
  code: string;
  message: string;
  issues?: { path: string; message: string }[];
  details?: unknown;
}

/** Formats a zod path as `jobs[0].env.FOO`. */
export function zodPath(path: readonly PropertyKey[], prefix = ''): string {
  let out = prefix;
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out || '(body)';
}

/**
 * The one place errors become HTTP. Anything that is not a domain error or a zod error is a
 * 500 with only a request id: an error object is never echoed.
 */
export function toHttpError(
  err: unknown,
  requestId: string,
  where = '',
): { status: number; body: ErrorBody } {
  if (err instanceof ZodError) {
    const issues = err.issues.map((i) => ({ path: zodPath(i.path, where), message: i.message }));
    const first = issues[0];
    return {
      status: 400,
      body: { code: 'invalid', message: first ? `${first.path}: ${first.message}` : 'invalid input', issues },
    };
  }
  if (err instanceof P3sError) {
    const body: ErrorBody = { code: err.code, message: err.message };
    if (err.details !== undefined) body.details = err.details;
    return { status: STATUS[err.code] ?? 400, body };
  }
  log.error('unhandled error', {
    requestId,
    err: err instanceof Error ? (err.stack ?? err.message) : String(err),
  });
  return { status: 500, body: { code: 'internal', message: `internal error (request ${requestId})` } };
}
