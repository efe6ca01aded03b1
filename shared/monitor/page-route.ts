import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type { z } from 'zod';
import { HttpResponse, type RouteInput, type RouteSpec, route } from '../http/route.ts';
import { html } from './html.ts';
import { layout } from './layout.ts';
import { clearCookie, hasTokenCookie, isHttps, requestedPath } from './session.ts';

/**
 * Headers of every monitor page. The CSP allows only this origin's script and style: even a
 * markup injection that escaped `html` could not run script.
 */
const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'same-origin',
};

export function htmlResponse(
  body: string,
  status = 200,
  headers: Record<string, string> = {},
  cookies: string[] = [],
): HttpResponse {
  return new HttpResponse(status, body, { ...PAGE_HEADERS, ...headers }, cookies);
}

export function redirect(location: string, cookies: string[] = [], status = 303): HttpResponse {
  return new HttpResponse(status, '', { location, 'cache-control': 'no-store' }, cookies);
}

/** The error page: the message toHttpError chose (escaped), and a way on. */
function errorPage(status: number, message: string, nowMs = Date.now()): string {
  const title =
    status === 404
      ? 'Not found'
      : status === 403
        ? 'Not allowed'
        : status >= 500
          ? 'Server error'
          : 'Cannot show this page';
  const signin = status === 401 || status === 403;
  return layout({
    title,
    nav: 'none',
    ctx: { nowMs },
    body: html`<h1>${title}</h1><p class="error-box">${message}</p>
<p>${signin ? html`<a href="/monitor/signin">Sign in with another token</a> · ` : ''}<a href="/">Dashboard</a></p>`,
  });
}

/**
 * Turns the route factory's JSON error answers into what a browser needs: a 302 to the sign-in
 * page when a browser (Accept: text/html) asked for a page without credentials, and an HTML
 * error page otherwise — scripts, and anyone sending `Authorization`, keep their 401. The status
 * and message stay those of the one error mapper.
 */
export function forBrowser(
  event: APIGatewayProxyEventV2,
  res: APIGatewayProxyStructuredResultV2,
): APIGatewayProxyStructuredResultV2 {
  const status = res.statusCode ?? 200;
  if (status < 400) return res;
  let message = `HTTP ${status}`;
  try {
    message = String((JSON.parse(res.body ?? '') as { message?: unknown }).message ?? message);
  } catch {}
  const hasHeader = Boolean(event.headers?.authorization ?? event.headers?.Authorization);
  const accept = String(event.headers?.accept ?? event.headers?.Accept ?? '');
  const secure = isHttps(event);
  // A cookie that no longer works (revoked, expired) is cleared, so the browser stops sending it.
  const cookies = status === 401 && hasTokenCookie(event) ? [clearCookie(secure)] : [];
  if (status === 401 && !hasHeader && accept.includes('text/html')) {
    const next = encodeURIComponent(requestedPath(event));
    return {
      statusCode: 302,
      headers: { location: `/monitor/signin?next=${next}`, 'cache-control': 'no-store' },
      cookies,
      body: '',
    };
  }
  const headers: Record<string, string> = { ...PAGE_HEADERS };
  if (status === 401) headers['www-authenticate'] = 'Bearer';
  return { statusCode: status, headers, cookies, body: errorPage(status, message) };
}

/**
 * A monitor page: the API's route factory (auth, validation, the one error mapper) with an
 * HTML result and browser-friendly errors. `fn` returns the page's HTML, or an `HttpResponse`
 * for redirects.
 */
export function page<
  B extends z.ZodType = z.ZodUnknown,
  Q extends z.ZodType = z.ZodUnknown,
  P extends z.ZodType = z.ZodUnknown,
>(
  spec: RouteSpec<B, Q, P>,
  fn: (input: RouteInput<z.infer<B>, z.infer<Q>, z.infer<P>>) => Promise<string | HttpResponse>,
) {
  // Pages are GETs a browser opens with its sign-in cookie.
  const inner = route({ ...spec, cookie: true }, async (input) => {
    const r = await fn(input);
    return typeof r === 'string' ? htmlResponse(r) : r;
  });
  const handler = async (event: APIGatewayProxyEventV2, context: Context) =>
    forBrowser(event, (await inner(event, context)) as APIGatewayProxyStructuredResultV2);
  return Object.assign(handler, { access: spec.access, cookie: true });
}
