import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ApiError, api } from '../client.ts';
import { emit, FIELD_ORDER, keyValues, ordered, table } from '../output.ts';
import type { CliContext } from './context.ts';

type Site = Record<string, unknown> & { name?: string };

/** Option → field of the original site JSON. */
const FIELDS = [
  ['server', 'server'],
  ['pilots', 'pilots'],
  ['cycles', 'pilotcycles'],
  ['period', 'pilotperiod'],
  ['beat', 'pilotbeat'],
  ['life', 'pilotlife'],
] as const;

function readSites(file: string): Site[] {
  const text = readFileSync(file === '-' ? 0 : file, 'utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file}: not JSON: ${(err as Error).message}`);
  }
  const list = Array.isArray(parsed) ? parsed : [parsed];
  for (const s of list)
    if (!s || typeof s !== 'object' || Array.isArray(s)) throw new Error(`${file}: a site is a JSON object`);
  return list as Site[];
}

/** `--env K=V` (repeatable) into an object. */
function envOption(pairs: string[] | undefined): Record<string, string> | undefined {
  if (!pairs?.length) return undefined;
  const env: Record<string, string> = {};
  for (const p of pairs) {
    const i = p.indexOf('=');
    if (i < 1) throw new Error(`--env ${p}: expected NAME=VALUE`);
    env[p.slice(0, i)] = p.slice(i + 1);
  }
  return env;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

export function registerSite(program: Command, ctx: CliContext): void {
  const site = program
    .command('site')
    .description('sites: pilot defaults (the original siteinfo.py and its site JSON)');
  site
    .command('set [file]')
    .description(
      'set sites from the original site JSON (one object or a list; the file is the whole site), ' +
        'or change fields of one site by name (the others are kept)',
    )
    .option('--name <name>', 'the site (default: "name" in the file)')
    .option('--server <url>', 'server the site’s pilots talk to')
    .option('--pilots <n>', 'nominal number of pilots')
    .option('--cycles <n>', 'pilot cycles (0 = forever)')
    .option('--period <s>', 'pilot poll period (s)')
    .option('--beat <s>', 'pilot heartbeat period (s)')
    .option('--life <s>', 'pilot lifetime (s)')
    .option('--env <NAME=VALUE>', 'a variable for every pilot (and job) of the site; repeatable', collect)
    .option('--json', 'print only JSON (the stored sites)')
    .action(async (file: string | undefined, o: Record<string, string | string[] | undefined>) => {
      const given: Site = {};
      for (const [opt, field] of FIELDS) if (o[opt] !== undefined) given[field] = o[opt];
      const env = envOption(o.env as string[] | undefined);
      let sites: Site[];
      if (file) {
        sites = readSites(file).map((s) => ({ ...s, ...given, ...(env ? { env } : {}) }));
        if (o.name) {
          if (sites.length !== 1) throw new Error('--name applies to a file with one site');
          sites[0]!.name = String(o.name);
        }
      } else {
        if (!o.name) throw new Error('give a site JSON file or --name');
        const name = String(o.name);
        // By name: change what the options give and keep the rest of the stored site.
        let old: Site = {};
        try {
          old = await api<Site>(ctx.target(), 'GET', `/sites/${encodeURIComponent(name)}`);
        } catch (err) {
          if (!(err instanceof ApiError && err.status === 404)) throw err;
        }
        const { updatedAt: _u, ...kept } = old;
        sites = [
          { ...kept, ...given, ...(env ? { env: { ...((kept.env as object) ?? {}), ...env } } : {}), name },
        ];
      }
      const out: Site[] = [];
      for (const s of sites) {
        if (typeof s.name !== 'string' || !s.name)
          throw new Error('a site needs a name (in the file or --name)');
        out.push(await api<Site>(ctx.target(), 'PUT', `/sites/${encodeURIComponent(s.name)}`, s));
      }
      emit(
        ctx.out(),
        out.map((s) => ordered(s, FIELD_ORDER.site)),
        () => out.map((s) => keyValues(ordered(s, FIELD_ORDER.site))).join('\n\n'),
      );
    });
  site
    .command('list')
    .description('sites by name')
    .option('--json', 'print only JSON')
    .action(async () => {
      const r = await api<{ sites: Site[] }>(ctx.target(), 'GET', '/sites');
      const sites = r.sites.map((s) => ordered(s, FIELD_ORDER.site));
      emit(ctx.out(), sites, () =>
        table(sites, [
          'name',
          'pilots',
          'pilotcycles',
          'pilotperiod',
          'pilotbeat',
          'pilotlife',
          'server',
          'env',
        ]),
      );
    });
  site
    .command('show <name>')
    .description('one site')
    .option('--json', 'print only JSON')
    .action(async (name: string) => {
      const s = ordered(
        await api<Site>(ctx.target(), 'GET', `/sites/${encodeURIComponent(name)}`),
        FIELD_ORDER.site,
      );
      emit(ctx.out(), s, () => keyValues(s));
    });
  site
    .command('delete <name>')
    .description('delete a site (operator); its pilots keep running without its defaults')
    .option('--json', 'print only JSON')
    .action(async (name: string) => {
      const r = await api(ctx.target(), 'DELETE', `/sites/${encodeURIComponent(name)}`);
      emit(ctx.out(), r, () => `deleted site ${name}`);
    });
}
