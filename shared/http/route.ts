import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { z } from 'zod';
import { type Access, allows, type Caller } from '../core/auth/roles.ts';
import {
  AuthError,
  ForbiddenError,
  PayloadTooLargeError,
  RateLimitedError,
  UnsupportedMediaTypeError,
  ValidationError,
} from '../core/errors.ts';
import { knownValidToken, verifyToken } from '../db/tokens.ts';
import { blockedFor, noteFailure } from './auth-limit.ts';
import { toHttpError } from './errors.ts';

/** A handler result that is not JSON data (HTML, redirects, cookies, other status codes). */
export class HttpResponse {
  constructor(
    readonly statusCode: number,
    readonly body: string,
    readonly headers: Record<string, string> = {},
    readonly cookies: string[] = [],
  ) {}
}

export interface RouteInput<B, Q, P> {
  body: B;
  query: Q;
  path: P;
  caller: Caller;
  event: APIGatewayProxyEventV2;
  requestId: string;
}

export interface RouteSpec<B extends z.ZodType, Q extends z.ZodType, P extends z.ZodType> {
  /** Who may call it. */
  access: Access;
  body?: B;
  query?: Q;
  path?: P;
  /** Largest accepted body in bytes (default 64 KiB). */
  maxBody?: number;
  /** Status for a successful JSON answer (default 200). */
  status?: number;
  /**
   * Accepts the monitor's sign-in cookie in place of the `Authorization` header. Only the
   * monitor's GET pages and `live.json` set it: a cookie is sent by the browser on its own, so a
   * route that changes anything must never take one (docs/security.md, *Monitor*).
   */
  cookie?: boolean;
}

const DEFAULT_MAX_BODY = 64 * 1024;
const PUBLIC_CALLER: Caller = { tokenId: '-', role: 'viewer', name: 'public' };
const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };

const READS = new Set(['GET', 'HEAD']);

/** The token a request presents: the `Authorization` header, or the sign-in cookie where allowed. */
function bearer(event: APIGatewayProxyEventV2, cookieAllowed: boolean): string | undefined {
  const h = event.headers?.authorization ?? event.headers?.Authorization;
  if (h) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
    if (!m) throw new AuthError('Authorization header must be "Bearer <token>"');
    return m[1];
  }
  for (const c of event.cookies ?? []) {
    const i = c.indexOf('=');
    if (i > 0 && c.slice(0, i).trim() === 'p3s_token') {
      if (!cookieAllowed || !READS.has(event.requestContext?.http?.method ?? ''))
        throw new AuthError(
          'this route takes the token in the Authorization header only (the sign-in cookie is for the monitor pages)',
        );
      try {
        return decodeURIComponent(c.slice(i + 1).trim());
      } catch {
        // A bad %-escape (URIError) is a bad credential, not a server error.
        throw new AuthError('the p3s_token cookie is not a token');
      }
    }
  }
  return undefined;
}

/**
 * Verifies a presented token, counting a failure against the request's source address: an
 * address over its limit gets a 429 before any look-up, unless this container has verified its
 * token before (auth-limit.ts). Also used by the monitor's sign-in form.
 */
export async function verifyFrom(event: APIGatewayProxyEventV2, token: string): Promise<Caller | undefined> {
  const ip = event.requestContext?.http?.sourceIp ?? '-';
  const wait = blockedFor(ip);
  if (wait > 0 && !knownValidToken(token))
    throw new RateLimitedError(`too many failed authentications from ${ip}; try again in ${wait} s`, wait);
  const caller = await verifyToken(token);
  if (!caller) noteFailure(ip);
  return caller;
}

async function authenticate(
  event: APIGatewayProxyEventV2,
  spec: RouteSpec<z.ZodType, z.ZodType, z.ZodType>,
): Promise<Caller> {
  if (spec.access === 'public') return PUBLIC_CALLER;
  const token = bearer(event, spec.cookie === true);
  if (!token) throw new AuthError('missing bearer token');
  const caller = await verifyFrom(event, token);
  if (!caller) throw new AuthError('invalid, expired or revoked token');
  if (!allows(caller.role, spec.access))
    throw new ForbiddenError(`role ${caller.role} may not call this route`);
  return caller;
}

/**
 * A route that reads a JSON body takes only `application/json` (UTF-8): a form or `text/plain`
 * body — what a page of another site can send without asking — is refused before it is read.
 */
function requireJson(event: APIGatewayProxyEventV2): void {
  const given = event.headers?.['content-type'] ?? event.headers?.['Content-Type'];
  const [type, ...params] = (given ?? '').split(';').map((p) => p.trim().toLowerCase());
  const charset = params
    .find((p) => p.startsWith('charset='))
    ?.slice('charset='.length)
    .replace(/"/g, '');
  if (type !== 'application/json')
    throw new UnsupportedMediaTypeError(
      `Content-Type must be application/json (got ${given === undefined ? 'none' : JSON.stringify(given)})`,
    );
  if (charset !== undefined && charset !== 'utf-8')
    throw new UnsupportedMediaTypeError(
      `Content-Type charset must be utf-8 (got ${JSON.stringify(charset)})`,
    );
}

function rawBody(event: APIGatewayProxyEventV2, max: number): string {
  const b = event.body ?? '';
  const text = event.isBase64Encoded ? Buffer.from(b, 'base64').toString('utf8') : b;
  if (Buffer.byteLength(text, 'utf8') > max) throw new PayloadTooLargeError(max);
  return text;
}

function parseJson(text: string): unknown {
  if (text.trim() === '') throw new ValidationError('(body): a JSON body is required');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ValidationError(`(body): malformed JSON: ${(err as Error).message}`);
  }
}

function parseWith<T extends z.ZodType>(schema: T, value: unknown, where: string): z.infer<T> {
  const r = schema.safeParse(value);
  if (!r.success) {
    // Prefix paths so the message names where the bad field was (query.limit, path.id, body…).
    const issues = r.error.issues.map((i) => ({ ...i, path: [where, ...i.path] }));
    throw new z.ZodError(issues as z.core.$ZodIssue[]);
  }
  return r.data;
}

/**
 * Builds a Lambda handler for one HTTP API route: auth → parse → validate → `fn` → JSON.
 * Errors are mapped to HTTP by `toHttpError` only; routes never build error responses.
 */
export function route<
  B extends z.ZodType = z.ZodUnknown,
  Q extends z.ZodType = z.ZodUnknown,
  P extends z.ZodType = z.ZodUnknown,
  R = unknown,
>(spec: RouteSpec<B, Q, P>, fn: (input: RouteInput<z.infer<B>, z.infer<Q>, z.infer<P>>) => Promise<R>) {
  const core = async (
    event: APIGatewayProxyEventV2,
    context: Context,
  ): Promise<APIGatewayProxyStructuredResultV2> => {
    const requestId = context?.awsRequestId ?? event.requestContext?.requestId ?? '-';
    const caller = await authenticate(event, spec);
    if (spec.body) requireJson(event);
    const text = rawBody(event, spec.maxBody ?? DEFAULT_MAX_BODY);
    const body = spec.body ? parseWith(spec.body, parseJson(text), 'body') : undefined;
    const query = spec.query ? parseWith(spec.query, event.queryStringParameters ?? {}, 'query') : undefined;
    const path = spec.path ? parseWith(spec.path, event.pathParameters ?? {}, 'path') : undefined;
    const result = await fn({ body, query, path, caller, event, requestId } as RouteInput<
      z.infer<B>,
      z.infer<Q>,
      z.infer<P>
    >);
    if (result instanceof HttpResponse) {
      return {
        statusCode: result.statusCode,
        headers: result.headers,
        body: result.body,
        cookies: result.cookies,
      };
    }
    return { statusCode: spec.status ?? 200, headers: JSON_HEADERS, body: JSON.stringify(result ?? null) };
  };
  const handler = middy(core).onError(async (request) => {
    const requestId = request.context?.awsRequestId ?? request.event?.requestContext?.requestId ?? '-';
    const { status, body } = toHttpError(request.error, requestId);
    const headers: Record<string, string> = { ...JSON_HEADERS };
    if (status === 401) headers['www-authenticate'] = 'Bearer';
    if (request.error instanceof RateLimitedError) headers['retry-after'] = String(request.error.retryAfterS);
    request.response = { statusCode: status, headers, body: JSON.stringify(body) };
  });
  // Who may call it and how, readable by the role-matrix test and the README generator.
  return Object.assign(handler, {
    access: spec.access,
    cookie: spec.cookie === true,
    json: Boolean(spec.body),
  });
}
