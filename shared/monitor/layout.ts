import type { Caller } from '../core/auth/roles.ts';
import { assetUrl } from './assets/index.ts';
import { type Child, type Html, html } from './html.ts';

/** What every page knows besides its data: who is looking, and the server's clock. */
export interface PageCtx {
  caller?: Caller;
  nowMs: number;
}

export type NavKey =
  | 'dashboard'
  | 'jobs'
  | 'pilots'
  | 'jobtypes'
  | 'workflows'
  | 'data'
  | 'dags'
  | 'rules'
  | 'datatypes'
  | 'sites'
  | 'none';

const NAV: readonly [NavKey, string, string][] = [
  ['dashboard', '/', 'Dashboard'],
  ['jobs', '/monitor/jobs', 'Jobs'],
  ['pilots', '/monitor/pilots', 'Pilots'],
  ['jobtypes', '/monitor/jobtypes', 'Job types'],
  ['workflows', '/monitor/workflows', 'Workflows'],
  ['data', '/monitor/data', 'Data'],
  ['dags', '/monitor/dags', 'DAGs'],
  ['rules', '/monitor/rules', 'Rules'],
  ['datatypes', '/monitor/datatypes', 'Datatypes'],
  ['sites', '/monitor/sites', 'Sites'],
];

/**
 * The page shell: header with navigation and who is signed in, one `<main>`, the stylesheet and
 * the script (both same-origin, so the Content-Security-Policy can forbid inline script).
 */
export function layout(o: { title: string; nav: NavKey; ctx: PageCtx; body: Child; main?: Html }): string {
  const who = o.ctx.caller
    ? html`<div class="who"><span title="Signed in as ${o.ctx.caller.name} (${o.ctx.caller.role})"><span class="sr-only">Signed in as </span><strong>${o.ctx.caller.name}</strong> (${o.ctx.caller.role})</span>
<form method="post" action="/monitor/signout"><input type="hidden" name="signout" value="1"><button type="submit">Sign out</button></form></div>`
    : '';
  const nav =
    o.nav === 'none' && !o.ctx.caller
      ? ''
      : html`<nav aria-label="Main"><ul>${NAV.map(
          ([k, href, label]) =>
            html`<li><a href="${href}"${k === o.nav ? html` aria-current="page"` : ''}>${label}</a></li>`,
        )}</ul></nav>`;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${o.title} · p3s monitor</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${assetUrl('monitor.css')}">
<script src="${assetUrl('monitor.js')}" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top"><a class="brand" href="/">p3s monitor</a>${nav}${who}</header>
<main id="main"${o.main ?? ''}>
${o.body}
</main>
<footer class="muted">Times are in <span id="tz">UTC</span>; hover a time for its UTC value.</footer>
</body>
</html>
`.value;
}
