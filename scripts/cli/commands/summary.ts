import type { Command } from 'commander';
import { api } from '../client.ts';
import { emit, keyValues } from '../output.ts';
import type { CliContext } from './context.ts';

export function registerSummary(program: Command, ctx: CliContext): void {
  program
    .command('summary')
    .description('counts per state for pilots and jobs, per job type, dispatch latency')
    .option('--json', 'print only JSON')
    .action(async () => {
      const s = await api<Record<string, unknown>>(ctx.target(), 'GET', '/summary');
      emit(ctx.out(), s, () =>
        Object.entries(s)
          .map(([k, v]) =>
            v && typeof v === 'object' && !Array.isArray(v)
              ? `${k}:\n${indent(keyValues(v as Record<string, unknown>))}`
              : `${k}: ${JSON.stringify(v)}`,
          )
          .join('\n'),
      );
    });
}

function indent(s: string): string {
  return s
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}
