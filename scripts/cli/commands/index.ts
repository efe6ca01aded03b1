import type { Command } from 'commander';
import type { CliContext } from './context.ts';
import { registerJob, registerJobtype, registerPilot } from './job.ts';
import { registerSummary } from './summary.ts';
import { registerToken } from './token.ts';

/** Every noun of the CLI; each module adds its own subcommands. */
export function registerCommands(program: Command, ctx: CliContext): void {
  registerSummary(program, ctx);
  registerToken(program, ctx);
  registerJob(program, ctx);
  registerJobtype(program, ctx);
  registerPilot(program, ctx);
}
