/**
 * A second "container" of a test stack: another process serving every httpApi route of
 * serverless.yml with the same handler modules, on the same tables — but with module state of
 * its own (token cache, failed-authentication limits), as another Lambda container has. No
 * streams, no schedules: the test stack in the test process runs those.
 *
 * Run as a script it prints `{"url": …}` once listening; `startHttpContainer` spawns it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createHttpServer } from '../../localstack/runtime/http-server.ts';
import { loadHandler } from '../../localstack/runtime/invoke.ts';
import { loadServerless, repoRoot } from '../../localstack/runtime/serverless-config.ts';
import type { Stack } from '../../localstack/stack.ts';

export interface HttpContainer {
  url: string;
  stop(): Promise<void>;
}

/** Starts another container on `stack`'s tables (`env`: more of its environment). */
export async function startHttpContainer(
  stack: Stack,
  env: Record<string, string> = {},
): Promise<HttpContainer> {
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', '--disable-warning=NodeVersionSupportWarning', fileURLToPath(import.meta.url)],
    {
      cwd: repoRoot,
      env: {
        ...process.env,
        P3S_TABLE_PREFIX: stack.tablePrefix,
        P3S_DYNAMODB_ENDPOINT: stack.dynamoEndpoint,
        P3S_LOG_LEVEL: 'error',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`second container did not start: ${err}`)), 60_000);
    child.once('exit', (code) => reject(new Error(`second container exited (${code}): ${err}`)));
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      resolve((JSON.parse(line) as { url: string }).url);
    });
  });
  return {
    url,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const model = loadServerless('local');
  // As the local stack does: the functions' environment from serverless.yml, ours on top.
  const own = { ...process.env };
  Object.assign(process.env, model.environment, { P3S_POLL_MODE: 'long', P3S_LONGPOLL_MAX: '90' }, own, {
    P3S_STAGE: 'local',
    AWS_REGION: 'us-east-1',
  });
  const routes = [];
  for (const fn of model.functions.filter((f) => f.http.length))
    routes.push({ fn, handler: await loadHandler(fn) });
  const server = createHttpServer(routes, (e) => process.stderr.write(`${String(e)}\n`));
  server.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as AddressInfo;
    process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}` })}\n`);
  });
  process.on('SIGTERM', () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
}
