import type { APIGatewayProxyEventV2 } from 'aws-lambda';

/** The sign-in cookie. `shared/http/route.ts` reads it as a bearer token when no header is sent. */
const COOKIE = 'p3s_token';
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

/** A base no request can name: resolving `next` against it shows whether it leaves the site. */
const BASE = new URL('http://p3s.invalid/');
/** What the URL parser strips from both ends of its input: C0 controls and spaces. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point.
const EDGES = /^[\u0000-\u0020]+|[\u0000-\u0020]+$/g;
/** C0 controls, DEL and backslashes: no monitor path has them, raw or %-encoded. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point.
const ODD = /[\u0000-\u001f\u007f\\]/;

/**
 * Where to go after signing in: a path on this site, as the browser will read it, else `/`.
 * Browsers parse a Location with the WHATWG URL parser, which drops leading and trailing
 * controls and spaces and every tab and newline, and reads `\` as `/`: so `/<TAB>/evil.example`
 * is `//evil.example`, another host. `next` is put through the same parser (node's URL is that
 * parser), must stay on this origin, and is answered in the parser's own serialisation, so the
 * browser gets exactly the path that was checked. Controls and backslashes, raw or %-encoded,
 * and paths that start `//` even once %-decoded (for a proxy that decodes), are refused.
 */
export function safeNext(next: string | undefined): string {
  if (!next) return '/';
  const trimmed = next.replace(EDGES, '').replace(/[\t\n\r]/g, '');
  if (!trimmed.startsWith('/') || trimmed.startsWith('//') || ODD.test(trimmed)) return '/';
  let url: URL;
  try {
    url = new URL(trimmed, BASE);
  } catch {
    return '/';
  }
  if (url.origin !== BASE.origin) return '/';
  const path = `${url.pathname}${url.search}`;
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return '/';
  }
  for (const p of [path, decoded]) if (/^\/[/\\]/.test(p) || ODD.test(p)) return '/';
  if (url.pathname.startsWith('/monitor/signin') || url.pathname.startsWith('/monitor/signout')) return '/';
  return path;
}

/**
 * Why a sign-in or sign-out form post is refused, or undefined when it comes from this site's
 * own pages. Browsers send `Sec-Fetch-Site` and `Origin` with a form post; another site — a
 * sibling app on the same host, which SameSite does not stop — sends its own. Clients that send
 * neither (curl, scripts) are not browsers a page could steer, and may post.
 */
export function crossSiteReason(event: APIGatewayProxyEventV2): string | undefined {
  const header = (name: string) =>
    event.headers?.[name] ?? event.headers?.[name.replace(/^./, (c) => c.toUpperCase())];
  const site = header('sec-fetch-site');
  if (site !== undefined && site.toLowerCase() !== 'same-origin') return `Sec-Fetch-Site is ${site}`;
  const origin = header('origin');
  if (origin === undefined) return undefined;
  const proto = isHttps(event) ? 'https' : 'http';
  const own = [header('host'), event.requestContext?.domainName]
    .filter((h): h is string => Boolean(h))
    .map((h) => `${proto}://${h.toLowerCase()}`);
  return own.includes(origin.toLowerCase()) ? undefined : `Origin ${origin} is not this site`;
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
