import { ValidationError } from '../../shared/core/errors.ts';
import { route } from '../../shared/http/route.ts';
import { redirect } from '../../shared/monitor/page-route.ts';
import { clearCookie, formBody, isHttps } from '../../shared/monitor/session.ts';

/**
 * POST /monitor/signout — forgets the sign-in cookie (a POST: GET never changes anything). Only
 * the header's sign-out form is accepted (`signout=1`); anything else is a 400.
 */
export const handler = route({ access: 'public' }, async ({ event }) => {
  if (formBody(event, 1024)?.get('signout') !== '1') throw new ValidationError('body.signout: must be 1');
  return redirect('/monitor/signin', [clearCookie(isHttps(event))]);
});
