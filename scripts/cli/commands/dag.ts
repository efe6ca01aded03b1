import { readFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import type { Command } from 'commander';
import { api, qs } from '../client.ts';
import { emit, FIELD_ORDER, keyValues, ordered, table } from '../output.ts';
import type { CliContext } from './context.ts';

/**
 * The upload body for a DAG file: `.json` files are the JSON form, anything else is GraphML.
 * As in the original client, the name defaults to the file's basename; a JSON file's own
 * `name` is used when it has one.
 */
function dagUpload(file: string, o: { name?: string; description?: string }): Record<string, unknown> {
  const text = readFileSync(file, 'utf8');
  const stem = basename(file, extname(file));
  if (extname(file).toLowerCase() === '.json') {
    let dag: Record<string, unknown>;
    try {
      dag = JSON.parse(text) as Record<string, unknown>;
    } catch (err) {
      throw new Error(`${file}: not JSON: ${(err as Error).message}`);
    }
    return {
      name: o.name ?? (typeof dag.name === 'string' ? undefined : stem),
      description: o.description,
      dag,
    };
  }
  return { name: o.name ?? stem, description: o.description, graphml: text };
}

export function registerDag(program: Command, ctx: CliContext): void {
  const dag = program.command('dag').description('DAG templates: add (GraphML or JSON), list, show, delete');
  dag
    .command('add <file>')
    .description('upload a DAG (GraphML with the original keys, or the JSON form if the file ends in .json)')
    .option('-n, --name <name>', 'DAG name (default: the file name without its extension)')
    .option('-D, --description <text>', 'description')
    .option('--replace', 'replace a DAG of the same name')
    .option('--json', 'print only JSON')
    .action(async (file: string, o: { name?: string; description?: string; replace?: boolean }) => {
      const r = await api<Record<string, unknown>>(
        ctx.target(),
        'POST',
        `/dags${qs({ replace: o.replace ? 'true' : undefined })}`,
        dagUpload(file, o),
      );
      emit(ctx.out(), r, () => keyValues(r));
    });
  dag
    .command('list')
    .description('DAG templates by name')
    .option('--json', 'print only JSON')
    .action(async () => {
      const r = await api<{ dags: Record<string, unknown>[] }>(ctx.target(), 'GET', '/dags');
      emit(ctx.out(), r.dags, () =>
        table(
          r.dags.map((d) => ({ ...d, roots: (d.roots as string[]).join(',') })),
          ['name', 'nvertices', 'nedges', 'roots', 'user', 'updatedAt', 'description'],
        ),
      );
    });
  dag
    .command('show <name>')
    .description('one DAG: vertices and edges, or its GraphML with --graphml')
    .option('--graphml', 'print GraphML (what `dag add` reads back)')
    .option('--json', 'print only JSON')
    .action(async (name: string, o: { graphml?: boolean }) => {
      const path = `/dags/${encodeURIComponent(name)}`;
      if (o.graphml) {
        process.stdout.write(await api<string>(ctx.target(), 'GET', `${path}?format=graphml`));
        return;
      }
      const d = ordered(await api<Record<string, unknown>>(ctx.target(), 'GET', path), FIELD_ORDER.dag);
      emit(ctx.out(), d, () => {
        const { vertices, edges, ...summary } = d as {
          vertices: Record<string, unknown>[];
          edges: Record<string, unknown>[];
        };
        return [
          keyValues(summary),
          '',
          table(vertices, ['name', 'jobtype', 'priority', 'timelimit', 'payload', 'env']),
          '',
          table(edges, ['source', 'target', 'datatype', 'datatag', 'name', 'dirpath']),
        ].join('\n');
      });
    });
  dag
    .command('delete <name>')
    .description('delete a DAG (operator); its workflows keep their own copy')
    .option('--json', 'print only JSON')
    .action(async (name: string) => {
      const r = await api(ctx.target(), 'DELETE', `/dags/${encodeURIComponent(name)}`);
      emit(ctx.out(), r, () => `deleted DAG ${name}`);
    });
}
