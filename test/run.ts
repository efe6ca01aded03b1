/**
 * `npm test`: starts one DynamoDB Local (in memory) for the whole run, then runs the test files
 * with node's test runner. Each test file creates its own tables (random prefix) and drops them.
 * Usage: test/run.ts [unit|integration|e2e|chaos|path/to/x.test.ts ...] (default: all four groups, in
 * that order). A path runs that file alone (with the shared DynamoDB Local it needs).
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { startDynamoLocal } from '../localstack/runtime/dynamodb-local.ts';

// The AWS SDK's Node-version warning is a plain Warning (--disable-warning cannot match it): its
// own switch silences it here and in the test processes, which inherit the environment.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const root = join(import.meta.dirname, '..');
const args = process.argv.slice(2);
const groups = args.length
  ? args.filter((a) => !a.endsWith('.test.ts'))
  : ['unit', 'integration', 'e2e', 'chaos'];
const single = args.filter((a) => a.endsWith('.test.ts')).map((a) => relative(root, join(process.cwd(), a)));

function files(dir: string): string[] {
  const out: string[] = [];
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...files(p));
    else if (name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out.sort();
}

const list = [...groups.flatMap((g) => files(join(root, 'test', g))), ...single];
const needsDb = groups.some((g) => g !== 'unit') || single.some((f) => !f.startsWith(join('test', 'unit')));
const started = Date.now();
const ddb = needsDb ? await startDynamoLocal({ heapMb: 1024 }) : undefined;
if (ddb) process.stdout.write(`# DynamoDB Local for tests at ${ddb.endpoint} (${Date.now() - started} ms)\n`);

const code = await new Promise<number>((resolve) => {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-reporter=spec', ...list],
    {
      cwd: root,
      stdio: 'inherit',
      env: {
        ...process.env,
        P3S_TEST_DYNAMODB_ENDPOINT: ddb?.endpoint ?? '',
        P3S_LOG_LEVEL: process.env.P3S_LOG_LEVEL ?? 'error',
      },
    },
  );
  child.on('exit', (c, sig) => resolve(c ?? (sig ? 1 : 0)));
});
await ddb?.stop();
process.stdout.write(`# test run took ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
process.exit(code);
