import { allows } from '../../shared/core/auth/roles.ts';
import { verifyToken } from '../../shared/db/tokens.ts';
import { route } from '../../shared/http/route.ts';
import { htmlResponse, redirect } from '../../shared/monitor/page-route.ts';
import { signinPage } from '../../shared/monitor/pages/signin.ts';
import { formBody, isHttps, safeNext, tokenCookie } from '../../shared/monitor/session.ts';

const MAX_FORM = 8 * 1024;

/**
 * GET /monitor/signin shows the form; POST checks the token and keeps it in an HttpOnly cookie
 * (SameSite=Strict; Secure over https), then goes back to the page that asked for sign-in.
 */
export const handler = route({ access: 'public' }, async ({ event }) => {
  const nowMs = Date.now();
  if (event.requestContext.http.method !== 'POST') {
    const next = safeNext(event.queryStringParameters?.next);
    return htmlResponse(signinPage({ next, nowMs }));
  }
  const form = formBody(event, MAX_FORM);
  const next = safeNext(form?.get('next') ?? undefined);
  const token = form?.get('token')?.trim() ?? '';
  const caller = token ? await verifyToken(token) : undefined;
  if (!caller || !allows(caller.role, 'viewer')) {
    const error = !token
      ? 'Enter a token.'
      : caller
        ? `A ${caller.role} token cannot sign in to the monitor; use a viewer, submitter, operator or admin token.`
        : 'This token is not valid (unknown, revoked or expired).';
    return htmlResponse(signinPage({ next, error, nowMs }), token ? 401 : 400);
  }
  return redirect(next, [tokenCookie(token, isHttps(event))]);
});
