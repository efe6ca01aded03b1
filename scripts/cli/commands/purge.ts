import type { Command } from 'commander';
import { api } from '../client.ts';
import { emit } from '../output.ts';
import type { CliContext } from './context.ts';

interface Counts {
  jobs: number;
  workflows: number;
  pilots: number;
  data: number;
}
interface Page {
  dryRun: boolean;
  cutoff: string;
  removed: Counts;
  kept: { workflows: number };
  examined: number;
  at?: string;
  cursor?: string;
}

const KINDS = ['jobs', 'workflows', 'pilots', 'data'] as const;

const describe = (c: Counts) =>
  `${c.jobs} job(s), ${c.workflows} workflow(s), ${c.pilots} pilot(s), ${c.data} file(s)`;

export function registerPurge(program: Command, ctx: CliContext): void {
  program
    .command('purge')
    .description(
      'remove ended jobs, ended workflows (with their jobs), ended pilots and registered files older than an age (operator); queued or running jobs and live pilots are never touched',
    )
    .requiredOption('--older-than <age>', 'ended (files: registered) longer ago than this: 90, 30m, 12h, 7d')
    .option('--what <kinds>', 'comma separated: jobs, workflows, pilots, data', KINDS.join(','))
    .option('--dry-run', 'count what would be removed, remove nothing')
    .option('--page <n>', 'items the server examines per call', '200')
    .option('--json', 'print only JSON (the totals); progress still goes to stderr')
    .action(async (o: { olderThan: string; what: string; dryRun?: boolean; page: string }) => {
      const what = o.what
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const olderThan = /^\d+(\.\d+)?$/.test(o.olderThan) ? Number(o.olderThan) : o.olderThan;
      const total: Counts = { jobs: 0, workflows: 0, pilots: 0, data: 0 };
      let kept = 0;
      let examined = 0;
      let cursor: string | undefined;
      let cutoff = '';
      const verb = o.dryRun ? 'would remove' : 'removed';
      const tty = process.stderr.isTTY;
      let calls = 0;
      do {
        const p: Page = await api<Page>(ctx.target(), 'POST', '/purge', {
          olderThan,
          what,
          dryRun: Boolean(o.dryRun),
          limit: Number(o.page),
          cursor,
        });
        calls++;
        cutoff = p.cutoff;
        for (const k of KINDS) total[k] += p.removed[k];
        kept += p.kept.workflows;
        examined += p.examined;
        cursor = p.cursor;
        const line = `purge: ${examined} examined, ${verb} ${describe(total)}${cursor ? ` … (at ${p.at})` : ''}`;
        if (tty) process.stderr.write(`\r${line}\x1b[K`);
        else process.stderr.write(`${line}\n`);
      } while (cursor);
      if (tty) process.stderr.write('\n');
      const result = {
        dryRun: Boolean(o.dryRun),
        cutoff,
        what,
        removed: total,
        kept: { workflows: kept },
        examined,
        calls,
      };
      emit(ctx.out(), result, () =>
        [
          `${o.dryRun ? 'dry run: would remove' : 'removed'} ${describe(total)} that ended before ${cutoff}`,
          ...(kept
            ? [`kept ${kept} ended workflow(s) with a job still in flight or ended after the cutoff`]
            : []),
        ].join('\n'),
      );
    });
}
