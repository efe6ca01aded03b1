/**
 * The monitor's session in real headless Chromium (Debian's `chromium` via playwright-core): the
 * browser's own URL parser follows the sign-in redirect, and a page of another origin on the
 * same host — a sibling app one port away, same *site*, so the SameSite=Strict cookie rides
 * along — tries to submit a job, sign the shifter out and sign the browser in as itself.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { tableSnapshot } from '../helpers/routes.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

const CHROMIUM = process.env.P3S_CHROMIUM ?? '/usr/bin/chromium';

let s: TestStack;
let browser: Browser;
let viewerToken: string;
let attackerToken: string;
/** The other origin: records every request it gets and serves the pages `pages` holds. */
let evil: Server;
let evilOrigin: string;
let evilHost: string;
const evilHits: string[] = [];
const pages = new Map<string, string>();

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium (CI's .ci/run does)`);
  s = await startTestStack();
  viewerToken = (await s.call('POST', '/tokens', { body: { role: 'viewer', name: 'the shifter' } })).body
    .token;
  attackerToken = (await s.call('POST', '/tokens', { body: { role: 'viewer', name: 'the attacker' } })).body
    .token;
  evil = createServer((req, res) => {
    // Chromium asks for a site's favicon on its own, some time after a page of it loaded (here
    // the probe's), so it is not a navigation; a redirect here would be recorded as `/landed`.
    // Every page names an empty icon so that the browser has no reason to ask.
    if (req.url === '/favicon.ico') {
      res.writeHead(404).end();
      return;
    }
    evilHits.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'text/html' });
    const body = pages.get(new URL(req.url ?? '/', 'http://x').pathname) ?? '<p>evil landing</p>';
    res.end(`<link rel="icon" href="data:,">${body}`);
  });
  await new Promise<void>((r) => evil.listen(0, '127.0.0.1', () => r()));
  evilHost = `127.0.0.1:${(evil.address() as AddressInfo).port}`;
  evilOrigin = `http://${evilHost}`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
});

after(async () => {
  await browser?.close();
  await new Promise((r) => evil?.close(r));
  await s?.close();
});

/** Signs in through the form with `next` set as a page could set it; returns where the browser landed. */
async function signInWithNext(ctx: BrowserContext, next: string): Promise<URL> {
  const page = await ctx.newPage();
  await page.goto(`${s.url}/monitor/signin`);
  await page.evaluate((n) => {
    // (Runs in the page; the test's tsconfig has no DOM types.)
    (globalThis as any).document.querySelector('input[name="next"]').value = n;
  }, next);
  await submitSignin(page);
  const landed = new URL(page.url());
  await page.close();
  return landed;
}

/** Submits the sign-in form and waits until the browser has left the form for wherever it was sent. */
async function submitSignin(page: Page): Promise<void> {
  const form = page.url();
  await page.fill('#token', viewerToken);
  await page.click('form[data-signin] button');
  await page.waitForURL((u) => u.href !== form, { waitUntil: 'load', timeout: 10_000 });
}

describe('the sign-in redirect, followed by Chromium', () => {
  test('the other origin is reachable from this browser (so a redirect there would be seen)', async () => {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.goto(`${evilOrigin}/probe`);
    assert.equal(new URL(page.url()).origin, evilOrigin);
    assert.ok(evilHits.includes('/probe'));
    await ctx.close();
  });

  test('a hostile `next` never takes the browser off the site: it lands on the dashboard', async () => {
    // Each of these is the other origin to a browser that follows it verbatim.
    const hostile = [
      `/\t/${evilHost}/landed`,
      `/\n/${evilHost}/landed`,
      `/\r\n/${evilHost}/landed`,
      `\t//${evilHost}/landed`,
      `/\\${evilHost}/landed`,
      `/\t\\${evilHost}/landed`,
      `\\\\${evilHost}/landed`,
      `//${evilHost}/landed`,
      `${evilOrigin}/landed`,
      `/%2F/${evilHost}/landed`,
      `/%5C${evilHost}/landed`,
      `/./\t/${evilHost}/landed`,
    ];
    const before = evilHits.length;
    // The sign-in page's CSP (`form-action 'self'`) makes Chromium refuse a form redirect to
    // another origin on its own; not every browser applies form-action to redirects, so the
    // server's answer is checked here with the CSP bypassed.
    const ctx = await browser.newContext({ bypassCSP: true });
    const wrong: string[] = [];
    for (const next of hostile) {
      const landed = await signInWithNext(ctx, next);
      if (landed.origin !== s.url || landed.pathname !== '/')
        wrong.push(`${JSON.stringify(next)} landed on ${landed.href}`);
    }
    await ctx.close();
    assert.deepEqual(wrong, []);
    assert.deepEqual(evilHits.slice(before), [], 'the other origin got no request');
  });

  test('a good `next` is where the browser lands, as the browser itself normalises it', async () => {
    const ctx = await browser.newContext();
    const landed = await signInWithNext(ctx, '/monitor/jo\tbs?state=defined');
    assert.equal(`${landed.origin}${landed.pathname}${landed.search}`, `${s.url}/monitor/jobs?state=defined`);
    // The same through the sign-in page's own link (next in the query string).
    const page = await ctx.newPage();
    await page.goto(`${s.url}/monitor/signin?next=${encodeURIComponent(`/\t/${evilHost}/x`)}`);
    await submitSignin(page);
    assert.equal(page.url(), `${s.url}/`);
    await ctx.close();
  });
});

describe('a page of another origin on the same host', () => {
  async function signedIn(): Promise<{ ctx: BrowserContext; page: Page }> {
    const ctx = await browser.newContext();
    const landed = await signInWithNext(ctx, '/');
    assert.equal(landed.href, `${s.url}/`);
    return { ctx, page: await ctx.newPage() };
  }

  /** Serves `html` on the other origin, opens it (its script posts a form to the stack) and waits for the answer page. */
  async function visit(page: Page, path: string, html: string) {
    pages.set(path, html);
    await Promise.all([
      page.waitForURL((u) => u.origin === s.url, { waitUntil: 'load' }),
      page.goto(`${evilOrigin}${path}`),
    ]);
    return page.evaluate(() => (globalThis as any).document.body.textContent as string);
  }

  test('cannot submit a job, sign the shifter out, or sign the browser in as someone else', async () => {
    const { ctx, page } = await signedIn();
    const cookie = (await ctx.cookies(s.url)).find((c) => c.name === 'p3s_token');
    assert.equal(cookie?.sameSite, 'Strict', 'the cookie is SameSite=Strict, and still rides along');
    const before = await tableSnapshot(s);

    // A job through a text/plain form: the body is valid JSON, the cookie is sent.
    const job = await visit(
      page,
      '/submit',
      `<form method="post" action="${s.url}/jobs" enctype="text/plain"><input name='[{"payload":"/bin/id","name":"csrf","x":"' value='"}]'></form><script>document.forms[0].submit()</script>`,
    );
    assert.match(job, /"code":"unauthorized"/);
    assert.match(job, /Authorization header/);

    const out = await visit(
      page,
      '/signout',
      `<form method="post" action="${s.url}/monitor/signout"><input name="signout" value="1"></form><script>document.forms[0].submit()</script>`,
    );
    assert.match(out, /cross-site sign-out refused/);

    const login = await visit(
      page,
      '/signin',
      `<form method="post" action="${s.url}/monitor/signin"><input name="token" value="${attackerToken}"><input name="next" value="/"></form><script>document.forms[0].submit()</script>`,
    );
    assert.match(login, /cross-site sign-in refused/);

    assert.deepEqual(await tableSnapshot(s), before, 'no table changed');
    // Still the shifter, still signed in.
    await page.goto(`${s.url}/`);
    assert.equal(page.url(), `${s.url}/`);
    const who = await page.textContent('header .who');
    assert.match(who ?? '', /Signed in as the shifter/);
    await ctx.close();
  });

  test("the monitor's own sign-out still works", async () => {
    const { ctx, page } = await signedIn();
    await page.goto(`${s.url}/monitor/jobs`);
    await Promise.all([page.waitForURL('**/monitor/signin'), page.click('header .who button')]);
    assert.deepEqual(
      (await ctx.cookies(s.url)).filter((c) => c.name === 'p3s_token'),
      [],
      'the cookie is gone',
    );
    await ctx.close();
  });
});
