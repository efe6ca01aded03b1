/**
 * `npm start`: the whole p3s stack on this machine (DynamoDB Local + every function of
 * serverless.yml). Options: `--in-memory` (no persistence). Environment: P3S_PORT (8080; 0 = any
 * free port), P3S_S3_PORT (P3S_PORT+1), P3S_HOME (./.p3s), plus every server variable of
 * shared/config.ts. How it supervises its parts and stops: docs/local-stack.md.
 */
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { JavaMissingError } from './runtime/dynamodb-local.ts';
import type { LocalFunction } from './runtime/serverless-config.ts';
import { type Stack, startStack } from './stack.ts';

// The AWS SDK warns about Node < 22 with process.emitWarning(text): a plain `Warning` whose text
// starts with "NodeVersionSupportWarning", which `--disable-warning=NodeVersionSupportWarning`
// (it matches a warning's type or code) does not catch. The SDK's own switch does; it is read
// when a client is created, after these lines.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const DEFAULT_PORT = 8080;
const USAGE =
  'usage: npm start [-- --in-memory]\n  P3S_PORT (default 8080, 0 = any free port), P3S_HOME (default ./.p3s)\n';

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  process.stdout.write(USAGE);
  process.exit(0);
}
for (const a of args) {
  if (a !== '--in-memory') {
    process.stderr.write(`p3s: unknown option ${a}\n${USAGE}`);
    process.exit(2);
  }
}
const inMemory = args.includes('--in-memory');
const home = resolve(process.env.P3S_HOME || '.p3s');
const port = portFrom('P3S_PORT', DEFAULT_PORT);
const s3Port = portFrom('P3S_S3_PORT', port ? port + 1 : 0);
const t0 = Date.now();
const stateFile = join(home, 'stack.json');

function portFrom(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    process.stderr.write(`p3s: ${name} must be a port number (0 = any free port), not '${raw}'\n`);
    process.exit(2);
  }
  return n;
}

let stopping = false;
let starting: Promise<Stack> | undefined;

/** Stops everything; "p3s stopped." only once DynamoDB Local (Java) has exited. */
async function stop(why: string, code = 0): Promise<void> {
  if (stopping) return;
  stopping = true;
  process.stdout.write(`\n${why}: stopping p3s…\n`);
  // The drain (≤ 5 s) and Java's own stop (≤ 5 s, then SIGKILL) fit well within this.
  setTimeout(() => {
    process.stderr.write('p3s: the stop took over 20 s; exiting (the guard of DynamoDB Local kills Java)\n');
    process.exit(1);
  }, 20_000).unref();
  // A stop asked for during start-up waits for it, so that Java is stopped too, not orphaned.
  const s = await starting?.catch(() => undefined);
  await s?.stop();
  rmSync(stateFile, { force: true });
  process.stdout.write('p3s stopped.\n');
  process.exit(code);
}

// Ctrl-C, a process manager, a closed terminal. A signal that arrives while stopping (npm
// forwards the SIGTERM a process group also got) changes nothing.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => void stop(sig));

// When whoever started the stack dies without a signal reaching us (`npm start` killed with -9,
// a test runner that crashed), the stack must not live on as an orphan holding its ports.
const parent = process.ppid;
if (parent !== 1) {
  setInterval(() => {
    if (process.ppid !== parent) void stop(`parent process ${parent} exited`);
  }, 500).unref();
}

let stack: Stack;
try {
  starting = startStack({
    home,
    port,
    inMemory,
    s3Port,
    bootstrapTokens: true,
    onFatal: (message) => {
      process.stderr.write(`${message}\n`);
      void stop('DynamoDB Local is gone', 1);
    },
  });
  stack = await starting;
} catch (err) {
  if (err instanceof JavaMissingError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(3);
  }
  const e = err as NodeJS.ErrnoException & { port?: number };
  if (e?.code === 'EADDRINUSE') {
    const which = e.port === port ? 'P3S_PORT' : e.port === s3Port ? 'P3S_S3_PORT' : undefined;
    process.stderr.write(
      `p3s: port ${e.port ?? '?'}${which ? ` (${which})` : ''} is in use — another p3s? ` +
        `Set ${which ?? 'P3S_PORT / P3S_S3_PORT'} to a free port, or to 0 for any.\n`,
    );
    process.exit(1);
  }
  process.stderr.write(`p3s: failed to start: ${e?.stack ?? err}\n`);
  process.exit(1);
}
if (stopping) await new Promise(() => {}); // stop() finishes the job and exits

// Where this stack is, for scripts and tests (ports may be chosen by the system: P3S_PORT=0).
writeFileSync(
  `${stateFile}.tmp`,
  JSON.stringify({
    pid: process.pid,
    url: stack.url,
    port: stack.port,
    dynamoEndpoint: stack.dynamoEndpoint,
    s3Endpoint: stack.s3Endpoint,
    inMemory,
    home,
  }),
);
renameSync(`${stateFile}.tmp`, stateFile);
process.stdout.write(`${banner(stack).join('\n')}\n`);

function banner(s: Stack): string[] {
  const fns = s.functions;
  const count = (f: (fn: LocalFunction) => boolean) => fns.filter(f).length;
  const streamed = fns
    .filter((f) => f.streams.length)
    .map(
      (f) =>
        `${f.name} (${f.streams.map((x) => s.tables.find((t) => t.logicalId === x.table)?.entity).join(', ')})`,
    );
  const scheduled = Object.entries(s.scheduleIntervals).map(([k, v]) => `${k} every ${v} s`);
  // Copy-pasteable in another terminal of this directory: the clients find the port through
  // P3S_PORT and their token under P3S_HOME, so those are spelled out when not the defaults.
  const env = [
    ...(s.port !== DEFAULT_PORT ? [`P3S_PORT=${s.port}`] : []),
    ...(home !== resolve('.p3s') ? [`P3S_HOME=${shellQuote(home)}`] : []),
  ].join(' ');
  const cmd = (c: string) => (env ? `${env} ${c}` : c);
  return [
    `p3s local stack ready in ${Date.now() - t0} ms`,
    `  API + monitor   ${s.url}   (health: ${s.url}/healthz)`,
    `  monitor sign-in ${s.url}/monitor/signin#token=${s.tokens.admin ?? ''}`,
    `  DynamoDB Local  ${s.dynamoEndpoint}  ${
      inMemory
        ? '(in memory: if it dies, the data is gone and p3s stops)'
        : `(data in ${home}/dynamodb; restarted if it dies)`
    }`,
    `  tables          ${s.tablePrefix}-* (${s.tables.length}, from serverless.yml)`,
    ...(s.s3Endpoint
      ? [`  S3 (s3rver)     ${s.s3Endpoint}  (buckets of the s3 events; objects in ${home}/s3)`]
      : []),
    `  functions       ${fns.length}, from serverless.yml, by trigger:`,
    `                    HTTP routes   ${count((f) => f.http.length > 0)} functions (${fns.reduce((n, f) => n + f.http.length, 0)} routes)`,
    `                    streams       ${streamed.join(', ') || 'none'}`,
    `                    schedules     ${scheduled.join(', ') || 'none'}`,
    ...(count((f) => f.s3.length > 0)
      ? [
          `                    S3 events     ${fns
            .filter((f) => f.s3.length)
            .map((f) => f.name)
            .join(', ')}`,
        ]
      : []),
    ...(s.checkpointDir
      ? [`  checkpoints     ${s.checkpointDir}  (stream positions: a restart resumes there)`]
      : []),
    `  tokens          ${home}/admin.token, ${home}/pilot.token`,
    `  logs            ${home}/logs`,
    '  try, in another terminal of this directory:',
    `    ${cmd('npx p3s summary')}`,
    `    ${cmd('npx p3s-pilot --count 2')}`,
    'Ctrl-C (or SIGTERM) stops everything.',
  ];
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`;
}
