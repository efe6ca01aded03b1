import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { api } from '../client.ts';
import { emit, table } from '../output.ts';
import type { CliContext } from './context.ts';

export function registerDatatype(program: Command, ctx: CliContext): void {
  const dt = program.command('datatype').description('datatypes: name and file extension (e.g. TXT, .txt)');
  dt.command('add [file]')
    .description(
      'add or replace datatypes from the original JSON ({"name","ext","comment"} or a list), or options',
    )
    .option('--name <name>')
    .option('--ext <ext>', 'file extension with the dot, e.g. .root')
    .option('--comment <text>')
    .option('--json', 'print only JSON')
    .action(async (file: string | undefined, o: { name?: string; ext?: string; comment?: string }) => {
      let items: unknown[] = [];
      if (file) {
        const text = readFileSync(file === '-' ? 0 : file, 'utf8');
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch (err) {
          throw new Error(`${file}: not JSON: ${(err as Error).message}`);
        }
        items = Array.isArray(parsed) ? parsed : [parsed];
      }
      if (o.name || o.ext) items.push({ name: o.name, ext: o.ext, comment: o.comment });
      if (!items.length) throw new Error('give a JSON file or --name and --ext');
      const out: Record<string, unknown>[] = [];
      for (const it of items) out.push(await api(ctx.target(), 'POST', '/datatypes', it));
      emit(ctx.out(), out, () => table(out, ['name', 'ext', 'comment']));
    });
  dt.command('list')
    .option('--json', 'print only JSON')
    .action(async () => {
      const r = await api<{ datatypes: Record<string, unknown>[] }>(ctx.target(), 'GET', '/datatypes');
      emit(ctx.out(), r.datatypes, () => table(r.datatypes, ['name', 'ext', 'comment', 'updatedAt']));
    });
  dt.command('delete <name>')
    .option('--json', 'print only JSON')
    .action(async (name: string) => {
      const r = await api(ctx.target(), 'DELETE', `/datatypes/${encodeURIComponent(name)}`);
      emit(ctx.out(), r, () => `deleted datatype ${name}`);
    });
}
