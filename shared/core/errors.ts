/**
 * Domain errors. Each carries a stable `code`; `shared/http/errors.ts` maps them to HTTP
 * in exactly one place.
 */
export class P3sError extends Error {
  readonly code: string;
  readonly details?: unknown;
  constructor(code: string, message: string, details?: unknown) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.details = details;
  }
}

/** Bad input: names the field. → 400 */
export class ValidationError extends P3sError {
  constructor(message: string, details?: unknown) {
    super('invalid', message, details);
  }
}

/** Missing or bad credentials. → 401 */
export class AuthError extends P3sError {
  constructor(message = 'missing or invalid token') {
    super('unauthorized', message);
  }
}

/** Valid credentials, not allowed. → 403 */
export class ForbiddenError extends P3sError {
  constructor(message: string) {
    super('forbidden', message);
  }
}

/** → 404 */
export class NotFoundError extends P3sError {
  constructor(what: string, id: string) {
    super('not_found', `${what} ${id} not found`);
  }
}

/** A conditional write lost: the item is not in the state the caller assumed. → 409 */
export class ConflictError extends P3sError {
  constructor(message: string, details?: unknown) {
    super('conflict', message, details);
  }
}

/** Body over the size limit. → 413 */
export class PayloadTooLargeError extends P3sError {
  constructor(limit: number) {
    super('too_large', `request body exceeds ${limit} bytes`);
  }
}

/** A JSON route called with another body type (e.g. a form or text/plain). → 415 */
export class UnsupportedMediaTypeError extends P3sError {
  constructor(message: string) {
    super('unsupported_media_type', message);
  }
}

/** Too many failed authentications from one address. → 429 (with Retry-After) */
export class RateLimitedError extends P3sError {
  constructor(
    message: string,
    readonly retryAfterS: number,
  ) {
    super('rate_limited', message, { retryAfterS });
  }
}
