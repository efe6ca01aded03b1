import { existsSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { api, qs } from '../client.ts';
import { emit, FIELD_ORDER, keyValues, morePages, ordered, table } from '../output.ts';
import type { CliContext } from './context.ts';

/**
 * A fileinfo/jobinfo option as the original client read it: a value naming a `.json` file is
 * that file's JSON; anything else (`sticky`, `inherit:run5141`, inline JSON) goes verbatim and the
 * server parses it, so a typo comes back as a message naming the problem.
 */
function infoOption(value: string | undefined): unknown {
  if (value === undefined) return undefined;
  if (/\.json$/i.test(value.trim()) && existsSync(value.trim())) {
    const text = readFileSync(value.trim(), 'utf8');
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new Error(`${value}: not JSON: ${(err as Error).message}`);
    }
  }
  return value;
}

type Detail = Record<string, unknown> & {
  jobs: (Record<string, unknown> & { inputs: EdgeFile[]; outputs: EdgeFile[] })[];
  files: Record<string, unknown>[];
};
interface EdgeFile {
  peer: string;
  datatag: string;
  path: string;
}

const edgeList = (fs: EdgeFile[]) => fs.map((f) => `${f.datatag || '-'}=${f.path}`).join(' ');

/** fileinfo/jobinfo in one line: a policy word as is, a JSON object by its keys. */
const info = (v: unknown) =>
  v === undefined || v === null || typeof v === 'string'
    ? v
    : `JSON for ${Object.keys(v as object).join(', ')}`;

function showDetail(d: Detail): string {
  const { jobs, files, fileinfo, jobinfo, ...summary } = d;
  return [
    keyValues(
      ordered(
        {
          ...summary,
          progress: `${summary.ndone}/${summary.nvertices} jobs ended`,
          fileinfo: info(fileinfo),
          jobinfo: info(jobinfo),
        },
        FIELD_ORDER.workflow,
      ),
    ),
    '',
    table(
      jobs.map((j) => ({ ...j, inputs: edgeList(j.inputs), outputs: edgeList(j.outputs) })),
      ['vertex', 'jobtype', 'state', 'id', 'exitCode', 'inputs', 'outputs'],
    ),
    '',
    table(files, ['source', 'target', 'datatype', 'datatag', 'path']),
  ].join('\n');
}

export function registerWorkflow(program: Command, ctx: CliContext): void {
  const wf = program
    .command('workflow')
    .description('workflows (DAG instances): create, list, show, define, cancel, delete');
  wf.command('create <dag>')
    .description('create a workflow from a DAG (the original `workflow.py -a`)')
    .option('-n, --name <name>', 'workflow name (default: the DAG name)')
    .option(
      '-s, --state <state>',
      'template (default: wait for `define`) or defined (start at once)',
      'template',
    )
    .option(
      '-f, --fileinfo <value>',
      "file names: sticky, inherit:NAME, JSON per edge 'source:target' (inline or a .json file)",
    )
    .option(
      '-j, --jobinfo <value>',
      'per-vertex {payload, env, priority, timelimit} overrides (inline JSON or a .json file)',
    )
    .option('--json', 'print only JSON')
    .action(async (dag: string, o: { name?: string; state: string; fileinfo?: string; jobinfo?: string }) => {
      const body = {
        dag,
        name: o.name,
        state: o.state,
        fileinfo: infoOption(o.fileinfo),
        jobinfo: infoOption(o.jobinfo),
      };
      const d = await api<Detail>(ctx.target(), 'POST', '/workflows', body);
      emit(ctx.out(), d, () => showDetail(d));
    });
  wf.command('list')
    .description('workflows, newest first')
    .option('--state <states>', 'template, defined, running, finished, failed, cancelled (comma separated)')
    .option('--dag <names>', 'made from this DAG (or these, comma separated)')
    .option('--user <users>', 'user(s), comma separated')
    .option('--since <iso>', 'created from this time')
    .option('--until <iso>', 'created up to this time')
    .option('--limit <n>', 'page size', '50')
    .option('--cursor <c>', 'next page (from a previous --json answer)')
    .option('--json', 'print only JSON')
    .action(async (o: Record<string, string | undefined>) => {
      const r = await api<{
        workflows: Record<string, unknown>[];
        nextCursor?: string;
        searchedBackTo?: string;
      }>(
        ctx.target(),
        'GET',
        `/workflows${qs({ state: o.state, dag: o.dag, user: o.user, since: o.since, until: o.until, limit: o.limit, cursor: o.cursor })}`,
      );
      emit(
        ctx.out(),
        r,
        () =>
          table(
            r.workflows.map((w) => ({ ...w, progress: `${w.ndone}/${w.nvertices}` })),
            ['id', 'name', 'dag', 'state', 'progress', 'user', 'createdAt', 'endedAt'],
          ) + morePages(r),
      );
    });
  wf.command('show <id>')
    .description('a workflow: each job with its state and the files on its edges')
    .option('--json', 'print only JSON')
    .action(async (id: string) => {
      const d = ordered(
        await api<Detail>(ctx.target(), 'GET', `/workflows/${encodeURIComponent(id)}`),
        FIELD_ORDER.workflow,
      );
      emit(ctx.out(), d, () => showDetail(d));
    });
  wf.command('define <id>')
    .description('start a template workflow (the original wf2defined)')
    .option('--json', 'print only JSON')
    .action(async (id: string) => {
      const d = await api<Detail>(ctx.target(), 'POST', `/workflows/${encodeURIComponent(id)}/define`);
      emit(ctx.out(), d, () => showDetail(d));
    });
  wf.command('cancel <id>')
    .description('cancel a workflow: waiting jobs are cancelled, running ones killed')
    .option('--json', 'print only JSON')
    .action(async (id: string) => {
      const d = await api<Detail>(ctx.target(), 'POST', `/workflows/${encodeURIComponent(id)}/cancel`);
      emit(ctx.out(), d, () => showDetail(d));
    });
  wf.command('delete <id>')
    .description('delete an ended workflow and its jobs (operator); --force cancels it first')
    .option('--force', 'cancel (kill) a running workflow, then delete it')
    .option('--json', 'print only JSON')
    .action(async (id: string, o: { force?: boolean }) => {
      const r = await api<{ deleted: string; jobs: number; inFlight: string[] }>(
        ctx.target(),
        'DELETE',
        `/workflows/${encodeURIComponent(id)}${qs({ force: o.force ? 'true' : undefined })}`,
      );
      emit(ctx.out(), r, () =>
        [
          `deleted workflow ${id} and ${r.jobs} job(s)`,
          ...(r.inFlight.length
            ? [`${r.inFlight.length} job(s) still being killed: ${r.inFlight.join(' ')}`]
            : []),
        ].join('\n'),
      );
    });
}
