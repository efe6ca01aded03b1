import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { api, qs } from '../client.ts';
import { emit, FIELD_ORDER, keyValues, ordered, table } from '../output.ts';
import type { CliContext } from './context.ts';

function readJson(file: string): unknown {
  const text = readFileSync(file === '-' ? 0 : file, 'utf8');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${file}: not JSON: ${(err as Error).message}`);
  }
}

/** A JSON option value may be inline JSON, a file name, or a plain word (fileinfo `sticky`). */
function jsonOrWord(v: string): unknown {
  if (/^\s*[[{]/.test(v)) return JSON.parse(v);
  try {
    return readJson(v);
  } catch {
    return v;
  }
}

const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));

function ruleRow(r: Record<string, unknown>) {
  const a = r.action as Record<string, unknown>;
  const m = (r.match ?? {}) as Record<string, unknown>;
  const lim = r.limit as { files: number; window: number } | undefined;
  return {
    ...r,
    enabled: r.enabled ? 'yes' : 'no',
    match: Object.entries(m)
      .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : String(v)}`)
      .join(' '),
    action: a.workflow
      ? `workflow ${(a.workflow as { dag: string }).dag}`
      : `${(a.jobs as unknown[]).length} job(s)`,
    limit: lim ? `${lim.files}/${lim.window}s` : '',
  };
}

export function registerRule(program: Command, ctx: CliContext): void {
  const rule = program
    .command('rule')
    .description('trigger rules: which arriving files create which jobs (or workflows)');
  rule
    .command('add [file]')
    .description('add a rule from a JSON file and/or options (options override the file)')
    .option('--name <name>', 'rule name')
    .option('-J, --jobs <file>', 'action: the original job JSON list; each job gets P3S_INPUT_FILE')
    .option('--dag <name>', 'action: a workflow from this DAG')
    .option('--fileinfo <json|file|word>', 'workflow fileinfo (original format)')
    .option('--jobinfo <json|file>', 'workflow jobinfo (original format)')
    .option('--pattern <glob>', 'file name glob, e.g. "np04_raw_*.root"')
    .option('--prefix <p>', 'file name prefix (same as --pattern "<p>*")')
    .option('--regex <re>', 'file name regular expression')
    .option('--under <prefix>', 'location prefix: directory, bucket or server URL')
    .option('-T, --datatype <names>', 'datatype(s), comma separated')
    .option('--min-size <size>', 'minimum size, e.g. 3900M')
    .option('--source <sources>', 'api, s3, xrootd, watch (comma separated)')
    .option('--sampling <fraction>', 'fraction of matching files to process, 0–1')
    .option('--max-files <k>', 'at most K files …')
    .option('--window <duration>', '… per window (e.g. 20m)', '60')
    .option('--dedupe <mode>', 'location (default) or name')
    .option('--comment <text>')
    .option('--disabled', 'store it disabled')
    .option('--replace', 'replace a rule of the same name')
    .option('--json', 'print only JSON')
    .action(async (file: string | undefined, o: Record<string, string | boolean | undefined>) => {
      const s = (k: string) => o[k] as string | undefined;
      const r = (file ? readJson(file) : {}) as Record<string, unknown>;
      const match = { ...((r.match as Record<string, unknown>) ?? {}) };
      if (s('pattern')) match.pattern = s('pattern');
      if (s('prefix')) match.pattern = `${s('prefix')!.replace(/[*?[\]{}\\]/g, '\\$&')}*`;
      if (s('regex')) match.regex = s('regex');
      if (s('under')) match.under = s('under');
      if (s('datatype')) match.datatype = s('datatype')!.split(',');
      if (s('minSize')) match.minSize = s('minSize');
      if (s('source')) match.source = s('source')!.split(',');
      r.match = match;
      if (s('name')) r.name = s('name');
      if (s('jobs')) r.action = readJson(s('jobs')!);
      if (s('dag'))
        r.action = {
          workflow: {
            dag: s('dag'),
            fileinfo: s('fileinfo') === undefined ? undefined : jsonOrWord(s('fileinfo')!),
            jobinfo: s('jobinfo') === undefined ? undefined : jsonOrWord(s('jobinfo')!),
          },
        };
      if (s('sampling') !== undefined) r.sampling = num(s('sampling'));
      if (s('maxFiles') !== undefined) r.limit = { files: num(s('maxFiles')), window: s('window') };
      if (s('dedupe')) r.dedupe = s('dedupe');
      if (s('comment')) r.comment = s('comment');
      if (o.disabled) r.enabled = false;
      if (!r.name) throw new Error('give the rule a name (--name, or "name" in the file)');
      if (!r.action) throw new Error('give an action: --jobs FILE, --dag NAME, or "action" in the file');
      const created = await api<Record<string, unknown>>(
        ctx.target(),
        'POST',
        `/rules${qs({ replace: o.replace ? 'true' : undefined })}`,
        r,
      );
      emit(ctx.out(), created, () => keyValues(ruleRow(created)));
    });
  rule
    .command('list')
    .option('--json', 'print only JSON')
    .action(async () => {
      const r = await api<{ rules: Record<string, unknown>[] }>(ctx.target(), 'GET', '/rules');
      emit(ctx.out(), r.rules, () =>
        table(r.rules.map(ruleRow), ['name', 'enabled', 'match', 'action', 'sampling', 'limit', 'dedupe']),
      );
    });
  rule
    .command('show <name>')
    .option('--json', 'print only JSON')
    .action(async (name: string) => {
      const r = ordered(
        await api<Record<string, unknown>>(ctx.target(), 'GET', `/rules/${encodeURIComponent(name)}`),
        FIELD_ORDER.rule,
      );
      emit(ctx.out(), r, () => JSON.stringify(r, null, 2));
    });
  for (const [verb, enabled] of [
    ['enable', true],
    ['disable', false],
  ] as const) {
    rule
      .command(`${verb} <name>`)
      .option('--json', 'print only JSON')
      .action(async (name: string) => {
        const r = await api<Record<string, unknown>>(
          ctx.target(),
          'PATCH',
          `/rules/${encodeURIComponent(name)}`,
          {
            enabled,
          },
        );
        emit(ctx.out(), r, () => `rule ${name} ${enabled ? 'enabled' : 'disabled'}`);
      });
  }
  rule
    .command('delete <name>')
    .description('delete a rule (operator)')
    .option('--json', 'print only JSON')
    .action(async (name: string) => {
      const r = await api(ctx.target(), 'DELETE', `/rules/${encodeURIComponent(name)}`);
      emit(ctx.out(), r, () => `deleted rule ${name}`);
    });
}
