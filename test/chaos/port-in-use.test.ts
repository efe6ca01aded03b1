/**
 * `npm start` with one of its ports taken (another p3s, or any program): it says which port and
 * which variable sets it, exits 1, and leaves nothing running — DynamoDB Local, already started
 * by then, is stopped too. The S3 port is listened on by s3rver, whose own `run()` has no error
 * listener: a taken S3 port used to crash the stack with a stack trace instead.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { repoRoot } from '../../localstack/runtime/serverless-config.ts';
import { running, within } from '../helpers/processes.ts';

let holder: Server;
let taken: number;

before(async () => {
  holder = createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
  taken = (holder.address() as { port: number }).port;
});
after(() => new Promise((r) => holder.close(r)));

/** Runs the stack to its end with `env`; its exit code, everything it printed, and its home. */
async function startToEnd(
  env: Record<string, string>,
): Promise<{ code: number | null; out: string; home: string }> {
  const home = mkdtempSync(join(tmpdir(), 'p3s-ports-'));
  const child = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'localstack', 'start.ts')], {
    cwd: repoRoot,
    env: { ...process.env, P3S_HOME: home, P3S_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  // 'close': the process has exited and its output has been read to the end.
  const code = await within(
    new Promise<number | null>((r) => child.once('close', (c) => r(c))),
    90_000,
    'the stack to exit',
  ).catch((err) => {
    child.kill('SIGKILL');
    throw err;
  });
  return { code, out, home };
}

function assertNothingLeft(home: string): void {
  const pidFile = join(home, 'dynamodb.pid');
  if (existsSync(pidFile)) {
    const java = Number(readFileSync(pidFile, 'utf8').trim());
    assert.equal(running(java), false, `DynamoDB Local (pid ${java}) was stopped`);
  }
  rmSync(home, { recursive: true, force: true });
}

describe('npm start with a port taken', () => {
  test('P3S_S3_PORT taken: says so, exits 1, leaves nothing running', async () => {
    const r = await startToEnd({ P3S_PORT: '0', P3S_S3_PORT: String(taken) });
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, new RegExp(`port ${taken} \\(P3S_S3_PORT\\) is in use`));
    assert.doesNotMatch(r.out, /Unhandled 'error' event|^\s+at /m, 'a message, not a stack trace');
    assertNothingLeft(r.home);
  });

  test('P3S_PORT taken: says so, exits 1, leaves nothing running', async () => {
    const r = await startToEnd({ P3S_PORT: String(taken), P3S_S3_PORT: '0' });
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, new RegExp(`port ${taken} \\(P3S_PORT\\) is in use`));
    assert.doesNotMatch(r.out, /Unhandled 'error' event|^\s+at /m);
    assertNothingLeft(r.home);
  });
});
