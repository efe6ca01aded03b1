#!/usr/bin/env node
/**
 * How many pilots a factory should submit to bring a site up to its target (the original's
 * pcalc). Plain Node ≥ 20, no dependencies: it runs wherever the factories run.
 *
 *   node topup.mjs --server URL --target N|site [--site NAME] [--token-file F]  < tasks
 *
 * stdin: the factory's own batch tasks that are still alive, one per line, `<batch id> <pending|running>`
 * (the batch id is what the pilot reports as `extra`). The token comes from --token-file, else
 * $P3S_TOKEN; a viewer token is enough. stdout: three lines, the number to submit, a JSON summary
 * and the same for humans.
 *
 * Counting, so that a factory run from cron never piles up pilots:
 *   have = live pilots of the site (active, waiting, dispatched, running) not asked to drain or die
 *        + pending batch tasks
 *        + running batch tasks that no live pilot claims as its `extra` (a pilot still starting,
 *          or one that has just stopped and whose task is about to end: either way transient,
 *          and counting it errs on the side of submitting too few — the next run tops up)
 *   submit = max(0, target − have)
 * `--target site` takes the target from the site's `pilots` setting (GET /sites/{name}).
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { parseArgs } from 'node:util';

const LIVE = ['active', 'waiting', 'dispatched', 'running'];
const LIMIT = 1000;

function fail(message, code = 1) {
  process.stderr.write(`topup: ${message}\n`);
  process.exit(code);
}

// node:http, not fetch: fetch refuses "bad ports" such as 6000 (the pilot does the same).
function getJson(base, path, token) {
  const url = new URL(path, base.endsWith('/') ? base : `${base}/`);
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { headers: { authorization: `Bearer ${token}`, accept: 'application/json' }, timeout: 15_000 },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => {
          text += c;
        });
        res.on('end', () => {
          if (res.statusCode !== 200) {
            reject(
              new Error(`GET ${url.pathname}${url.search}: HTTP ${res.statusCode} ${text.slice(0, 200)}`),
            );
            return;
          }
          try {
            resolve(JSON.parse(text));
          } catch {
            reject(new Error(`GET ${url.pathname}: not JSON`));
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${url.pathname}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

function readTasks(text) {
  const tasks = [];
  for (const line of text.split('\n')) {
    const [id, state] = line.trim().split(/\s+/);
    if (!id) continue;
    if (state !== 'pending' && state !== 'running') fail(`bad task line: ${line}`);
    tasks.push({ id, state });
  }
  return tasks;
}

const { values } = parseArgs({
  options: {
    server: { type: 'string' },
    site: { type: 'string' },
    target: { type: 'string' },
    'token-file': { type: 'string' },
  },
});
if (!values.server || !values.target) fail('usage: topup.mjs --server URL --target N|site [--site S]', 2);
const site = values.site || undefined;
let token = process.env.P3S_TOKEN?.trim();
if (values['token-file']) {
  try {
    token = readFileSync(values['token-file'], 'utf8').trim();
  } catch (err) {
    fail(`cannot read the API token file: ${err.message}`);
  }
}
if (!token) fail('no API token: pass --api-token-file or set P3S_TOKEN (a viewer token is enough)');

try {
  let target;
  if (values.target === 'site') {
    if (!site) fail('--target site needs --site', 2);
    const s = await getJson(values.server, `sites/${encodeURIComponent(site)}`, token);
    if (!Number.isInteger(s.pilots)) fail(`site ${site} has no "pilots" setting: pass --target N`);
    target = s.pilots;
  } else if (/^\d+$/.test(values.target)) {
    target = Number(values.target);
  } else {
    fail('--target must be a number or "site"', 2);
  }

  const tasks = readTasks(readFileSync(0, 'utf8'));
  const pilots = [];
  for (const state of LIVE) {
    const q = new URLSearchParams({ state, limit: String(LIMIT) });
    if (site) q.set('site', site);
    const body = await getJson(values.server, `pilots?${q}`, token);
    const list = Array.isArray(body?.pilots) ? body.pilots : [];
    if (list.length >= LIMIT) process.stderr.write(`topup: warning: ${state} pilots capped at ${LIMIT}\n`);
    // The API filters by site; without --site only pilots without a site are this factory's.
    pilots.push(...list.filter((p) => (p.site ?? undefined) === site));
  }
  const claimed = new Set(pilots.map((p) => p.extra).filter(Boolean));
  const live = pilots.filter((p) => !p.drain && !p.kill).length;
  const draining = pilots.length - live;
  const pending = tasks.filter((t) => t.state === 'pending').length;
  const starting = tasks.filter((t) => t.state === 'running' && !claimed.has(t.id)).length;
  const submit = Math.max(0, target - live - pending - starting);
  const summary = { site: site ?? null, target, live, draining, pending, starting, submit };
  const human = `top-up ${site ?? '(no site)'}: target ${target}, live ${live} (+${draining} draining), pending ${pending}, starting ${starting}: submit ${submit}`;
  process.stdout.write(`${submit}\n${JSON.stringify(summary)}\n${human}\n`);
} catch (err) {
  fail(err.message);
}
