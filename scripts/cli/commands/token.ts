import type { Command } from 'commander';
import { api } from '../client.ts';
import { emit, table } from '../output.ts';
import type { CliContext } from './context.ts';

export function registerToken(program: Command, ctx: CliContext): void {
  const token = program.command('token').description('API tokens (admin)');
  token
    .command('create')
    .description('create a token; its secret is printed once')
    .requiredOption('--role <role>', 'viewer | submitter | operator | pilot | admin')
    .option('--name <name>', 'what the token is for', 'unnamed')
    .option('--expires-in-days <n>', 'expire after N days', Number)
    .option('--json', 'print only JSON')
    .action(async (o: { role: string; name: string; expiresInDays?: number }) => {
      const t = await api<{ id: string; token: string; role: string }>(ctx.target(), 'POST', '/tokens', {
        role: o.role,
        name: o.name,
        expiresInDays: o.expiresInDays,
      });
      emit(ctx.out(), t, () => `${t.token}\n(id ${t.id}, role ${t.role}; the secret is not shown again)`);
    });
  token
    .command('list')
    .description('list tokens (never their secrets)')
    .option('--json', 'print only JSON')
    .action(async () => {
      const r = await api<{ tokens: Record<string, unknown>[] }>(ctx.target(), 'GET', '/tokens');
      emit(ctx.out(), r.tokens, () =>
        table(r.tokens, ['id', 'role', 'name', 'createdAt', 'expiresAt', 'revokedAt']),
      );
    });
  token
    .command('revoke <id>')
    .description('revoke a token by id')
    .option('--json', 'print only JSON')
    .action(async (id: string) => {
      const r = await api<Record<string, unknown>>(
        ctx.target(),
        'DELETE',
        `/tokens/${encodeURIComponent(id)}`,
      );
      emit(ctx.out(), r, () => `revoked ${id}`);
    });
}
