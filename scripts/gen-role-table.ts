/**
 * Prints the role table (every httpApi route of serverless.yml, its access, who may call it) from
 * the same data the role-matrix test checks. `--write` replaces the table in README.md.
 * Usage: node --import tsx scripts/gen-role-table.ts [--write]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { apiRoutes, ROLE_TABLE_END, ROLE_TABLE_START, roleTable } from '../test/helpers/routes.ts';

const table = roleTable(await apiRoutes());
if (!process.argv.includes('--write')) {
  process.stdout.write(`${table}\n`);
} else {
  const file = join(import.meta.dirname, '..', 'README.md');
  const text = readFileSync(file, 'utf8');
  const a = text.indexOf(ROLE_TABLE_START);
  const b = text.indexOf(ROLE_TABLE_END);
  if (a < 0 || b < a) throw new Error(`README.md has no ${ROLE_TABLE_START} … ${ROLE_TABLE_END} block`);
  writeFileSync(file, `${text.slice(0, a + ROLE_TABLE_START.length)}\n${table}\n${text.slice(b)}`);
  process.stdout.write('README.md role table updated\n');
}
