import { allows } from '../../shared/core/auth/roles.ts';
import { ForbiddenError } from '../../shared/core/errors.ts';
import { route, verifyFrom } from '../../shared/http/route.ts';
import { htmlResponse, redirect } from '../../shared/monitor/page-route.ts';
import { signinPage } from '../../shared/monitor/pages/signin.ts';
import { crossSiteReason, formBody, isHttps, safeNext, tokenCookie } from '../../shared/monitor/session.ts';

const MAX_FORM = 8 * 1024;

/**
 * GET /monitor/signin shows the form; POST checks the token and keeps it in an HttpOnly cookie
 * (SameSite=Strict; Secure over https), then goes back to the page that asked for sign-in —
 * only from this site's own form (a 403 for another origin) and only to a path of this site.
 */
export const handler = route({ access: 'public' }, async ({ event }) => {
  const nowMs = Date.now();
  if (event.requestContext.http.method !== 'POST') {
    const next = safeNext(event.queryStringParameters?.next);
    return htmlResponse(signinPage({ next, nowMs }));
  }
  const refused = crossSiteReason(event);
  if (refused) throw new ForbiddenError(`cross-site sign-in refused: ${refused}`);
  const form = formBody(event, MAX_FORM);
  const next = safeNext(form?.get('next') ?? undefined);
  const token = form?.get('token')?.trim() ?? '';
  const caller = token ? await verifyFrom(event, token) : undefined;
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
