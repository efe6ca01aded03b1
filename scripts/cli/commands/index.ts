import type { Command } from 'commander';
import type { CliContext } from './context.ts';
import { registerDag } from './dag.ts';
import { registerData } from './data.ts';
import { registerDatatype } from './datatype.ts';
import { registerHook } from './hook.ts';
import { registerJob, registerJobtype, registerPilot } from './job.ts';
import { registerPurge } from './purge.ts';
import { registerRule } from './rule.ts';
import { registerSite } from './site.ts';
import { registerSummary } from './summary.ts';
import { registerToken } from './token.ts';
import { registerWatch } from './watch.ts';
import { registerWorkflow } from './workflow.ts';

/** Every noun of the CLI; each module adds its own subcommands. */
export function registerCommands(program: Command, ctx: CliContext): void {
  registerSummary(program, ctx);
  registerToken(program, ctx);
  registerJob(program, ctx);
  registerJobtype(program, ctx);
  registerPilot(program, ctx);
  registerSite(program, ctx);
  registerPurge(program, ctx);
  for (const add of [registerDatatype, registerData, registerRule, registerWatch, registerHook])
    add(program, ctx);
  for (const add of [registerDag, registerWorkflow]) add(program, ctx);
}
