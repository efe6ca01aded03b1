import { ForbiddenError, ValidationError } from '../../shared/core/errors.ts';
import { route } from '../../shared/http/route.ts';
import { redirect } from '../../shared/monitor/page-route.ts';
import { clearCookie, crossSiteReason, formBody, isHttps } from '../../shared/monitor/session.ts';

/**
 * POST /monitor/signout — forgets the sign-in cookie (a POST: GET never changes anything). Only
 * the header's sign-out form is accepted (`signout=1`), from this site's pages; a post from
 * another origin is a 403, anything else a 400.
 */
export const handler = route({ access: 'public' }, async ({ event }) => {
  const refused = crossSiteReason(event);
  if (refused) throw new ForbiddenError(`cross-site sign-out refused: ${refused}`);
  if (formBody(event, 1024)?.get('signout') !== '1') throw new ValidationError('body.signout: must be 1');
  return redirect('/monitor/signin', [clearCookie(isHttps(event))]);
});
