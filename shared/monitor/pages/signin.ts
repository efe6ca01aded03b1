import { html } from '../html.ts';
import { layout } from '../layout.ts';

/**
 * The sign-in form. The token field is a password field posted to this origin; a sign-in link
 * (`…/monitor/signin#token=…`) is filled in and submitted by the page script, since a URL
 * fragment never reaches the server or its logs.
 */
export function signinPage(d: { next: string; error?: string; nowMs: number }): string {
  return layout({
    title: 'Sign in',
    nav: 'none',
    ctx: { nowMs: d.nowMs },
    body: html`<div class="signin card">
<h1>Sign in to the p3s monitor</h1>
${d.error ? html`<p class="error-box" role="alert">${d.error}</p>` : ''}
<form method="post" action="/monitor/signin" data-signin>
<p><label for="token">Token (role viewer or higher)</label><br>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus></p>
<input type="hidden" name="next" value="${d.next}">
<p><button type="submit">Sign in</button></p>
</form>
<p class="muted">Create a token with <code>p3s token create --role viewer</code>. On the local stack, <code>npm start</code> prints a sign-in link. Scripts can send the token as <code>Authorization: Bearer …</code> instead.</p>
</div>`,
  });
}
