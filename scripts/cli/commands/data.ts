import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { ApiError, api, qs, type Target } from '../client.ts';
import { emit, FIELD_ORDER, keyValues, morePages, ordered, table } from '../output.ts';
import type { CliContext } from './context.ts';

/** A file as the CLI, the watcher and the XRootD hook announce it (`POST /data`). */
export interface FileToRegister {
  location: string;
  size?: number;
  datatype?: string;
  source?: 'api' | 's3' | 'xrootd' | 'watch';
  comment?: string;
}

/** What `POST /data` answers for each file. */
export interface Registered {
  id: string;
  location: string;
  name: string;
  created: boolean;
  state: string;
  datatype?: string;
  jobs: string[];
  triggers: { rule: string; outcome: string; jobs?: string[]; message?: string }[];
}

/** At most this many files per `POST /data` (the server takes 500). */
export const REGISTER_CHUNK = 100;

/** Registers files in one call. */
export async function postFiles(t: Target, files: FileToRegister[]): Promise<Registered[]> {
  const r = await api<{ results: Registered[] }>(t, 'POST', '/data', { files }, { timeoutMs: 30_000 });
  return r.results;
}

/**
 * Whether a failed registration is worth retrying: the server unreachable, overloaded or
 * failing (5xx, 429, 408). A 4xx means the request itself is wrong and will stay wrong; 401/403
 * is reported separately so long-lived callers can keep trying after a token is fixed.
 */
export function retryable(err: unknown): boolean {
  if (!(err instanceof ApiError)) return true;
  return err.status >= 500 || err.status === 429 || err.status === 408;
}

/** One-line summary of a batch: `3 file(s): 2 new (2 triggered), 1 repeat; 4 job(s)`. */
export function summarise(results: Registered[]): string {
  const fresh = results.filter((r) => r.created);
  const byState = new Map<string, number>();
  for (const r of fresh) byState.set(r.state, (byState.get(r.state) ?? 0) + 1);
  const states = [...byState].map(([s, n]) => `${n} ${s}`).join(', ');
  const repeats = results.length - fresh.length;
  const jobs = fresh.reduce((n, r) => n + r.jobs.length, 0);
  return `${results.length} file(s): ${fresh.length} new${states ? ` (${states})` : ''}${repeats ? `, ${repeats} already registered` : ''}; ${jobs} job(s)`;
}

/** A location typed by a user: an existing local path becomes absolute (and gives its size). */
function fromArg(arg: string, o: { size?: string; datatype?: string; source?: string; comment?: string }) {
  let location = arg;
  let size = o.size === undefined ? undefined : Number(o.size);
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(arg)) {
    location = resolve(arg);
    if (size === undefined) {
      try {
        const st = statSync(location);
        if (st.isFile()) size = st.size;
      } catch {
        // Not on this machine (a path the payloads will see elsewhere): register it as given.
      }
    }
  }
  return {
    location,
    size,
    datatype: o.datatype,
    source: (o.source ?? 'api') as FileToRegister['source'],
    comment: o.comment,
  };
}

const DATA_COLUMNS = ['id', 'name', 'state', 'source', 'datatype', 'size', 'registeredAt', 'location'];

export function registerData(program: Command, ctx: CliContext): void {
  const data = program.command('data').description('data: register files (fires trigger rules), list, show');
  data
    .command('register [locations...]')
    .description('register files by location (path, root://, s3://); new ones fire the trigger rules')
    .option('-j, --file <json>', 'the original dataset JSON (one object or a list), - for stdin')
    .option('--size <bytes>', 'file size (default: from the local file, if it exists)')
    .option('-T, --datatype <name>', 'datatype (default: from the extension)')
    .option('--source <source>', 'api | s3 | xrootd | watch', 'api')
    .option('--comment <text>')
    .option('--json', 'print only JSON (the results)')
    .action(async (locations: string[], o: Record<string, string | undefined>) => {
      const files: unknown[] = locations.map((l) => fromArg(l, o));
      if (o.file) {
        const text = readFileSync(o.file === '-' ? 0 : o.file, 'utf8');
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch (err) {
          throw new Error(`${o.file}: not JSON: ${(err as Error).message}`);
        }
        files.push(...(Array.isArray(parsed) ? parsed : [parsed]));
      }
      if (!files.length) throw new Error('give at least one location (or -j FILE)');
      const results: Registered[] = [];
      for (let i = 0; i < files.length; i += REGISTER_CHUNK)
        results.push(
          ...(await postFiles(ctx.target(), files.slice(i, i + REGISTER_CHUNK) as FileToRegister[])),
        );
      emit(ctx.out(), results, () =>
        [
          table(
            results.map((r) => ({ ...r, jobs: r.jobs.length, new: r.created ? 'yes' : 'no' })),
            ['id', 'name', 'new', 'state', 'jobs', 'location'],
          ),
          summarise(results),
        ].join('\n'),
      );
    });
  data
    .command('list')
    .description('registered files, newest first')
    .option('--state <states>', 'new | triggered | skipped | unmatched | failed (comma separated)')
    .option('--source <sources>', 'api | s3 | xrootd | watch (comma separated)')
    .option('-T, --datatype <names>', 'datatype(s), comma separated')
    .option('--name <name>', 'exact file name')
    .option('--since <iso>')
    .option('--until <iso>')
    .option('--limit <n>', 'page size', '50')
    .option('--cursor <c>', 'next page (from a previous --json answer)')
    .option('--json', 'print only JSON')
    .action(async (o: Record<string, string | undefined>) => {
      const r = await api<{ data: Record<string, unknown>[]; nextCursor?: string; searchedBackTo?: string }>(
        ctx.target(),
        'GET',
        `/data${qs({ state: o.state, source: o.source, datatype: o.datatype, name: o.name, since: o.since, until: o.until, limit: o.limit, cursor: o.cursor })}`,
      );
      emit(ctx.out(), r, () => table(r.data, DATA_COLUMNS) + morePages(r));
    });
  data
    .command('show <idOrLocation>')
    .description('one file (by id or location) and what its arrival triggered')
    .option('--json', 'print only JSON')
    .action(async (x: string) => {
      let d: Record<string, unknown>;
      if (/^[0-9a-f]{32}$/.test(x)) d = await api(ctx.target(), 'GET', `/data/${x}`);
      else {
        const location = /^[a-z][a-z0-9+.-]*:\/\//i.test(x) ? x : resolve(x);
        const r = await api<{ data: Record<string, unknown>[] }>(
          ctx.target(),
          'GET',
          `/data${qs({ location })}`,
        );
        if (!r.data[0]) throw new Error(`${location} is not registered`);
        d = r.data[0];
      }
      d = ordered(d, FIELD_ORDER.data);
      emit(ctx.out(), d, () => {
        const { triggers, ...rest } = d;
        const t = (triggers as Record<string, unknown>[] | undefined) ?? [];
        return `${keyValues(rest)}${t.length ? `\n\ntriggers:\n${table(t, ['rule', 'outcome', 'jobs', 'message'])}` : ''}`;
      });
    });
}
