/**
 * `p3s` — the admin CLI. Turns argv into API calls; nothing else. Every command takes --json
 * (only JSON on stdout); exit 0 on success, otherwise 1 with a one-line reason on stderr.
 */
import { Command, CommanderError } from 'commander';
import { ApiError, target } from './client.ts';
import { registerCommands } from './commands/index.ts';

const program = new Command('p3s')
  .description(
    'p3s admin CLI (server: $P3S_SERVER, else http://127.0.0.1:$P3S_PORT, else :8080; ' +
      'token: $P3S_TOKEN or $P3S_HOME/admin.token)',
  )
  .option('--json', 'print only JSON on stdout')
  .showHelpAfterError('(p3s --help for usage)')
  .exitOverride();

registerCommands(program, {
  target: () => target(),
  out: () => ({ json: Boolean(program.opts().json || process.argv.includes('--json')) }),
});

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exit(err.exitCode === 0 ? 0 : 2);
  }
  const msg = err instanceof ApiError || err instanceof Error ? err.message : String(err);
  process.stderr.write(`p3s: ${msg.split('\n')[0]}\n`);
  process.exit(1);
}
