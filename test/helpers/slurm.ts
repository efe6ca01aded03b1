/**
 * A private single-node Slurm for tests (docs/factories.md, /work/shared/LOCAL-INFRA.md): munged
 * with its own key and socket, slurmctld and slurmd in the foreground on free loopback ports,
 * every file under one temp dir. `stop()` cancels what is left in the queue, stops the daemons,
 * kills anything still running from this instance (job steps included), and removes the dir.
 * Needs Debian's `slurm-wlm` and `munge` and root (SlurmUser=root runs the jobs as root).
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePorts } from './ports.ts';
import { waitFor } from './stack.ts';

export interface Slurm {
  dir: string;
  conf: string;
  partition: string;
  /** Environment for Slurm clients (sbatch, squeue, the factories): `SLURM_CONF` and a PATH with sbin. */
  env: Record<string, string>;
  /** Milliseconds from the first daemon start to an idle node. */
  bringUpMs: number;
  /** Runs a Slurm client command; never throws on a non-zero exit. */
  run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Job ids in the queue (array tasks one per line, `123_4`), any state. */
  queue(): Promise<string[]>;
  /** The last lines of the daemons' logs, for failure messages. */
  logs(): string;
  stop(): Promise<void>;
}

const BINARIES = ['munged', 'mungekey', 'slurmctld', 'slurmd', 'sbatch', 'squeue', 'sinfo', 'scancel'];
const PATH = [process.env.PATH ?? '', '/usr/sbin', '/sbin', '/usr/bin', '/bin']
  .filter(Boolean)
  .join(delimiter);

function which(name: string): string | undefined {
  for (const d of PATH.split(delimiter)) if (existsSync(join(d, name))) return join(d, name);
  return undefined;
}

function userIds(name: string): { uid: number; gid: number } {
  for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const f = line.split(':');
    if (f[0] === name) return { uid: Number(f[2]), gid: Number(f[3]) };
  }
  throw new Error(`no user ${name}: is the munge package installed?`);
}

const alive = (c: ChildProcess) => c.exitCode === null && c.signalCode === null;

async function stopChild(c: ChildProcess, ms = 5000): Promise<void> {
  if (!alive(c)) return;
  const gone = new Promise<void>((r) => c.once('exit', () => r()));
  c.kill('SIGTERM');
  const timer = setTimeout(() => c.kill('SIGKILL'), ms);
  await gone;
  clearTimeout(timer);
}

/** Every process that belongs to this instance: its command line or environment names the dir. */
function strays(dir: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      const env = readFileSync(`/proc/${pid}/environ`, 'utf8');
      if (cmd.includes(dir) || env.includes(dir)) pids.push(pid);
    } catch {}
  }
  return pids;
}

function killStrays(dir: string): number {
  const pids = strays(dir);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
  return pids.length;
}

function tail(file: string, lines = 15): string {
  if (!existsSync(file)) return `(no ${file})`;
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

/** Starts a private Slurm; throws with the reason (and the daemons' logs) if it cannot. */
export async function startSlurm(opts: { cpus?: number } = {}): Promise<Slurm> {
  const missing = BINARIES.filter((b) => !which(b));
  if (missing.length)
    throw new Error(
      `Slurm is not installed (missing ${missing.join(', ')}): apt-get install slurm-wlm munge (.ci/run does this)`,
    );
  if (process.getuid?.() !== 0)
    throw new Error('the private Slurm needs root: slurmd (SlurmUser=root) runs the test jobs as root');
  const munge = userIds('munge');

  const dir = mkdtempSync(join(tmpdir(), 'p3s-slurm-'));
  chmodSync(dir, 0o711); // munged (user munge) must reach its own subdirectory
  for (const d of ['state', 'spool', 'log', 'munge']) mkdirSync(join(dir, d));
  const mdir = join(dir, 'munge');
  chownSync(mdir, munge.uid, munge.gid);
  chmodSync(mdir, 0o711); // munged insists: the socket dir is not writable by others
  const key = join(mdir, 'munge.key');
  const socket = join(mdir, 'munge.socket');
  execFileSync(which('mungekey')!, ['--create', `--keyfile=${key}`]);
  chownSync(key, munge.uid, munge.gid);
  chmodSync(key, 0o400);

  const node = 'p3snode';
  const partition = 'p3s';
  const ctldPort = await freePorts(2);
  const slurmdPort = ctldPort + 1;
  const conf = join(dir, 'slurm.conf');
  writeFileSync(
    conf,
    [
      'ClusterName=p3stest',
      `SlurmctldHost=${hostname().split('.')[0]}(127.0.0.1)`,
      `SlurmctldPort=${ctldPort}`,
      `SlurmdPort=${slurmdPort}`,
      'SlurmUser=root',
      'SlurmdUser=root',
      'AuthType=auth/munge',
      'CredType=cred/munge',
      `AuthInfo=socket=${socket}`,
      'ProctrackType=proctrack/linuxproc',
      'TaskPlugin=task/none',
      'SelectType=select/cons_tres',
      // Cores only: with memory as a resource too, each job gets the whole node's memory: one at a time.
      'SelectTypeParameters=CR_Core',
      'ReturnToService=2',
      'AccountingStorageType=accounting_storage/none',
      'JobCompType=jobcomp/none',
      'JobAcctGatherType=jobacct_gather/none',
      'MpiDefault=none',
      'MailProg=/bin/true',
      // Start jobs as soon as they arrive (the default batches them once a second or more).
      'SchedulerParameters=batch_sched_delay=0,sched_min_interval=0',
      'SlurmdParameters=config_overrides',
      // A job that ends is gone from squeue at once; a killed step does not linger.
      'MinJobAge=2',
      'KillWait=5',
      `StateSaveLocation=${join(dir, 'state')}`,
      `SlurmdSpoolDir=${join(dir, 'spool')}`,
      `SlurmctldPidFile=${join(dir, 'slurmctld.pid')}`,
      `SlurmdPidFile=${join(dir, 'slurmd.pid')}`,
      `SlurmctldLogFile=${join(dir, 'log', 'slurmctld.log')}`,
      `SlurmdLogFile=${join(dir, 'log', 'slurmd.log')}`,
      `NodeName=${node} NodeAddr=127.0.0.1 CPUs=${opts.cpus ?? 8} State=UNKNOWN`,
      `PartitionName=${partition} Nodes=${node} Default=YES MaxTime=INFINITE State=UP`,
      '',
    ].join('\n'),
  );
  const env: Record<string, string> = { SLURM_CONF: conf, PATH };
  const daemonEnv = { ...process.env, ...env };

  const children: ChildProcess[] = [];
  const onExit = () => {
    for (const c of children) if (alive(c)) c.kill('SIGKILL');
    killStrays(dir);
  };
  process.on('exit', onExit);
  const logs = () =>
    ['slurmctld.log', 'slurmd.log']
      .map((f) => `--- ${f}\n${tail(join(dir, 'log', f))}`)
      .concat(`--- munged.log\n${tail(join(mdir, 'munged.log'))}`)
      .join('\n');

  const run: Slurm['run'] = (cmd, args) =>
    new Promise((resolve) => {
      execFile(
        which(cmd) ?? cmd,
        args,
        { env: { ...process.env, ...env }, timeout: 20_000 },
        (err, stdout, stderr) => {
          const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
          resolve({ code, stdout, stderr });
        },
      );
    });
  const queue = async () => {
    const r = await run('squeue', ['-h', '-r', '-o', '%i']);
    if (r.code !== 0) throw new Error(`squeue failed: ${r.stderr}`);
    return r.stdout.split('\n').filter(Boolean);
  };

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    try {
      if (children.every(alive)) {
        await run('scancel', ['--partition', partition]);
        await waitFor(async () => (await queue()).length === 0, {
          timeoutMs: 15_000,
          intervalMs: 100,
          what: 'the Slurm queue to empty',
        }).catch(() => {});
      }
    } finally {
      for (const c of [...children].reverse()) await stopChild(c);
      // Job steps (slurmstepd and the jobs) are not children of slurmd: find them by the dir.
      killStrays(dir);
      await waitFor(() => strays(dir).length === 0, {
        timeoutMs: 5000,
        what: 'Slurm processes to exit',
      }).catch(() => {});
      process.off('exit', onExit);
      if (!process.env.P3S_KEEP_SLURM) rmSync(dir, { recursive: true, force: true });
    }
  };

  const started = Date.now();
  try {
    children.push(
      spawn(
        which('munged')!,
        [
          '-F',
          `--key-file=${key}`,
          `--socket=${socket}`,
          `--pid-file=${join(mdir, 'munged.pid')}`,
          `--log-file=${join(mdir, 'munged.log')}`,
          `--seed-file=${join(mdir, 'munged.seed')}`,
        ],
        { uid: munge.uid, gid: munge.gid, env: daemonEnv, stdio: 'ignore' },
      ),
    );
    await waitFor(() => existsSync(socket), { timeoutMs: 10_000, what: 'the munge socket' });
    children.push(spawn(which('slurmctld')!, ['-D', '-i', '-f', conf], { env: daemonEnv, stdio: 'ignore' }));
    children.push(
      spawn(which('slurmd')!, ['-D', '-f', conf, '-N', node], { env: daemonEnv, stdio: 'ignore' }),
    );
    const ready = await waitFor(
      async () => {
        const dead = children.find((c) => !alive(c));
        if (dead) return `${dead.spawnfile} exited (${dead.exitCode ?? dead.signalCode})`;
        const r = await run('sinfo', ['-h', '-N', '-o', '%T']);
        return r.code === 0 && r.stdout.trim() === 'idle' && 'idle';
      },
      { timeoutMs: 20_000, intervalMs: 50, what: 'the Slurm node to be idle' },
    );
    if (ready !== 'idle') throw new Error(ready);
  } catch (err) {
    const text = `${(err as Error).message}\n${logs()}`;
    await stop();
    throw new Error(`private Slurm did not start: ${text}`);
  }
  return { dir, conf, partition, env, bringUpMs: Date.now() - started, run, queue, logs, stop };
}
