/**
 * `npm start`: the whole p3s stack on this machine (DynamoDB Local + every function of
 * serverless.yml). Options: `--in-memory` (no persistence). Environment: P3S_PORT (8080),
 * P3S_HOME (./.p3s), plus every server variable of shared/config.ts.
 */
import { resolve } from 'node:path';
import { JavaMissingError } from './runtime/dynamodb-local.ts';
import { startStack } from './stack.ts';

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  process.stdout.write(
    'usage: npm start [-- --in-memory]\n  P3S_PORT (default 8080), P3S_HOME (default ./.p3s)\n',
  );
  process.exit(0);
}
for (const a of args) {
  if (a !== '--in-memory') {
    process.stderr.write(`p3s: unknown option ${a} (usage: npm start [-- --in-memory])\n`);
    process.exit(2);
  }
}
const inMemory = args.includes('--in-memory');
const home = resolve(process.env.P3S_HOME ?? '.p3s');
const port = Number(process.env.P3S_PORT ?? 8080);
const t0 = Date.now();

try {
  const stack = await startStack({
    home,
    port,
    inMemory,
    s3Port: Number(process.env.P3S_S3_PORT ?? (port ? port + 1 : 0)),
    bootstrapTokens: true,
    log: (msg, fields) =>
      process.stderr.write(`${JSON.stringify({ t: new Date().toISOString(), msg, ...fields })}\n`),
  });
  const lines = [
    `p3s local stack ready in ${Date.now() - t0} ms`,
    `  API + monitor   ${stack.url}   (health: ${stack.url}/healthz)`,
    `  monitor sign-in ${stack.url}/monitor/signin#token=${stack.tokens.admin ?? ''}`,
    `  DynamoDB Local  ${stack.dynamoEndpoint}  (${inMemory ? 'in memory' : `data in ${home}/dynamodb`})`,
    `  tables          ${stack.tablePrefix}-* (${stack.tables.length}, from serverless.yml)`,
    ...(stack.s3Endpoint
      ? [`  S3 (s3rver)     ${stack.s3Endpoint}  (buckets of the s3 events; objects in ${home}/s3)`]
      : []),
    `  functions       ${stack.functions.length} (${stack.functions.filter((f) => f.http.length).length} http, ${stack.streamReaders.reduce((n, r) => n + r.consumers.length, 0)} stream consumers, schedules: ${
      Object.entries(stack.scheduleIntervals)
        .map(([k, v]) => `${k} every ${v}s`)
        .join(', ') || 'none'
    })`,
    `  tokens          ${home}/admin.token, ${home}/pilot.token`,
    `  logs            ${home}/logs`,
    '  try:            npx p3s summary    |   npx p3s-pilot --count 2',
    'Ctrl-C stops everything.',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  let stopping = false;
  const stop = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`\n${sig}: stopping p3s…\n`);
    const force = setTimeout(() => process.exit(1), 10_000);
    await stack.stop();
    clearTimeout(force);
    process.stdout.write('p3s stopped.\n');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
} catch (err) {
  if (err instanceof JavaMissingError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(3);
  }
  process.stderr.write(`p3s: failed to start: ${(err as Error)?.stack ?? err}\n`);
  process.exit(1);
}
