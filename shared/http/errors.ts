import { ZodError, type z } from 'zod';
import { P3sError } from '../core/errors.ts';
import { log } from '../log.ts';

const STATUS: Record<string, number> = {
  invalid: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  timeout: 503,
};

export interface ErrorBody {
  code: string;
  message: string;
  issues?: { path: string; message: string }[];
  details?: unknown;
}

/** Formats a zod path as `jobs[0].env.FOO`. */
function zodPath(path: readonly PropertyKey[], prefix = ''): string {
  let out = prefix;
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out || '(body)';
}

/**
 * Zod reports a failed union as one "Invalid input" issue holding each option's issues. When
 * exactly one option matched the input's shape (the others failed on its type at their root),
 * its issues are the real ones: report them, so the message names the field. A bad record key
 * gets the key schema's own message ("not a valid environment variable name").
 */
function explain(issue: z.core.$ZodIssue): z.core.$ZodIssue[] {
  if (issue.code === 'invalid_union' && issue.errors.length > 1) {
    const shaped = issue.errors.filter(
      (branch) => !branch.some((i) => i.code === 'invalid_type' && i.path.length === 0),
    );
    if (shaped.length === 1)
      return shaped[0]!.flatMap((i) =>
        explain({ ...i, path: [...issue.path, ...i.path] } as z.core.$ZodIssue),
      );
  }
  if (issue.code === 'invalid_key' && issue.issues[0])
    return [{ ...issue, message: issue.issues[0].message }];
  return [issue];
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
    const issues = err.issues
      .flatMap(explain)
      .map((i) => ({ path: zodPath(i.path, where), message: i.message }));
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
  if (err instanceof Error && err.name === 'TimeoutError') {
    // middy's early timeout response: the function ran out of time mid-way.
    log.error('request timed out', { requestId });
    return {
      status: 503,
      body: {
        code: 'timeout',
        message: `the request did not finish in time (request ${requestId}); part of it may have been applied — check before retrying`,
      },
    };
  }
  log.error('unhandled error', {
    requestId,
    err: err instanceof Error ? (err.stack ?? err.message) : String(err),
  });
  return { status: 500, body: { code: 'internal', message: `internal error (request ${requestId})` } };
}
