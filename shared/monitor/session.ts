import type { APIGatewayProxyEventV2 } from 'aws-lambda';

/** The sign-in cookie. `shared/http/route.ts` reads it as a bearer token when no header is sent. */
export const COOKIE = 'p3s_token';
/** A control-room screen stays signed in for a month; revoking the token ends it at once anyway. */
const MAX_AGE_S = 30 * 86400;

/** Whether the browser reached us over https (API Gateway says so in x-forwarded-proto). */
export function isHttps(event: APIGatewayProxyEventV2): boolean {
  const proto = event.headers?.['x-forwarded-proto'] ?? event.headers?.['X-Forwarded-Proto'];
  return proto?.split(',')[0]?.trim().toLowerCase() === 'https';
}

const attrs = (secure: boolean) => `Path=/; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;

export function tokenCookie(token: string, secure: boolean): string {
  return `${COOKIE}=${encodeURIComponent(token)}; ${attrs(secure)}; Max-Age=${MAX_AGE_S}`;
}

export function clearCookie(secure: boolean): string {
  return `${COOKIE}=; ${attrs(secure)}; Max-Age=0`;
}

export function hasTokenCookie(event: APIGatewayProxyEventV2): boolean {
  return (event.cookies ?? []).some((c) => c.trim().startsWith(`${COOKIE}=`));
}

/** Where to go after signing in: only a path on this site (no `//host`, no scheme), else the dashboard. */
export function safeNext(next: string | undefined): string {
  if (!next?.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return '/';
  if (/[\r\n]/.test(next) || next.startsWith('/monitor/signin') || next.startsWith('/monitor/signout'))
    return '/';
  return next;
}

/** The path and query the browser asked for (to come back to it after signing in). */
export function requestedPath(event: APIGatewayProxyEventV2): string {
  const q = event.rawQueryString ? `?${event.rawQueryString}` : '';
  return `${event.rawPath ?? '/'}${q}`;
}

/** Reads an `application/x-www-form-urlencoded` body (API Gateway may hand it over base64-encoded). */
export function formBody(event: APIGatewayProxyEventV2, maxBytes: number): URLSearchParams | undefined {
  const raw = event.body ?? '';
  const text = event.isBase64Encoded ? Buffer.from(raw, 'base64').toString('utf8') : raw;
  if (Buffer.byteLength(text) > maxBytes) return undefined;
  return new URLSearchParams(text);
}
