import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { notifyMsgLine } from '../../shared/core/data/xrootd.ts';

/**
 * A throw-away XRootD data server for tests and the benchmark, configured like xrd.cfg next to
 * this file: runs as `nobody` (xrootd refuses root), on a free port, with `ofs.notify closew`
 * piped into `hookCommand` (a shell command line run by /bin/sh as nobody) and the keyed
 * `ofs.notifymsg` (a fresh key, also exported to the hook as P3S_XROOTD_KEY).
 */
export interface LocalXrootd {
  port: number;
  /** The notify key in the config (undefined with `legacyNotifyMsg`). */
  key?: string;
  /** `root://127.0.0.1:<port>/` — prefix of the files' locations. */
  url: string;
  dir: string;
  /** Where the hook's log goes (pass it as --log in hookCommand, or read stderr there). */
  hookLog: string;
  log(): string;
  stop(): Promise<void>;
}

const XRD_PROBE_ENV = { XRD_CONNECTIONRETRY: '1', XRD_CONNECTIONWINDOW: '2', XRD_REQUESTTIMEOUT: '2' };

/**
 * A port free on every interface (xrootd has no bind-address option), below the system's
 * ephemeral range: a port the system picks (listen on 0) comes from that range, which it also
 * hands to outgoing connections, so one could be taken before xrootd listens on it.
 */
async function freeAnyPort(): Promise<number> {
  const range = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
  const ephemeralFrom = Number(range[0] ?? 32768);
  const low = Math.max(1024, ephemeralFrom - 12_000);
  for (let i = 0; i < 100; i++) {
    const port = low + Math.floor(Math.random() * (ephemeralFrom - low));
    const free = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(port, () => s.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error(`no free port below ${ephemeralFrom}`);
}

function run(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env: { ...process.env, ...env }, timeout: 10_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) || 1 : 0, out: stdout + stderr }),
    );
  });
}

export async function startXrootd(opts: {
  /** Shell command line XRootD pipes the closew events into; `{hookLog}` and `{port}` are replaced. */
  hookCommand: string;
  /** Environment for the hook, written into its wrapper script. */
  hookEnv?: Record<string, string>;
  /** The pre-key message `closew $LFN size=$FSIZE tid=$TID`, no key (to test the legacy format). */
  legacyNotifyMsg?: boolean;
}): Promise<LocalXrootd> {
  const key = opts.legacyNotifyMsg ? undefined : randomBytes(24).toString('base64url');
  const nobody = { uid: 65534, gid: 65534 };
  const dir = mkdtempSync(join(tmpdir(), 'p3s-xrootd-'));
  chmodSync(dir, 0o755);
  for (const d of ['data/data', 'admin', 'run']) mkdirSync(join(dir, d), { recursive: true });
  for (const d of ['', 'data', 'data/data', 'admin', 'run']) chownSync(join(dir, d), nobody.uid, nobody.gid);
  const hookLog = join(dir, 'hook.log');
  const wrapper = join(dir, 'p3s-hook.sh');
  const port = await freeAnyPort();
  const env = Object.entries({ ...(key ? { P3S_XROOTD_KEY: key } : {}), ...opts.hookEnv })
    .map(([k, v]) => `export ${k}='${v.replace(/'/g, `'\\''`)}'`)
    .join('\n');
  writeFileSync(
    wrapper,
    `#!/bin/sh\n${env}\nexec ${opts.hookCommand.replaceAll('{hookLog}', hookLog).replaceAll('{port}', String(port))} 2>>${hookLog}\n`,
    { mode: 0o755 },
  );
  const name = `p3s-${port}`;
  const cfg = join(dir, 'xrd.cfg');
  writeFileSync(
    cfg,
    [
      'all.role server',
      `xrd.port ${port}`,
      'all.export /data',
      `oss.localroot ${join(dir, 'data')}`,
      `all.adminpath ${join(dir, 'admin')}`,
      `all.pidpath ${join(dir, 'run')}`,
      `ofs.notify closew |${wrapper}`,
      key ? notifyMsgLine(key) : 'ofs.notifymsg closew closew $LFN size=$FSIZE tid=$TID',
      '',
    ].join('\n'),
    { mode: 0o644 },
  );
  const child: ChildProcess = spawn(
    'setpriv',
    [
      '--reuid=nobody',
      '--regid=nogroup',
      '--clear-groups',
      'xrootd',
      '-c',
      cfg,
      '-n',
      name,
      '-l',
      join(dir, 'xrootd.log'),
    ],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const url = `root://127.0.0.1:${port}/`;
  const until = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`xrootd exited at start: ${out}`);
    const probe = await run('xrdfs', [`127.0.0.1:${port}`, 'query', 'config', 'version'], XRD_PROBE_ENV);
    if (probe.code === 0) break;
    if (Date.now() > until) {
      child.kill('SIGKILL');
      throw new Error(`xrootd did not answer on port ${port}: ${probe.out}${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port,
    key,
    url,
    dir,
    hookLog,
    log: () => out,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Copies a local file into the server (`xrdcp -f`). */
export async function xrdcp(src: string, url: string): Promise<void> {
  const r = await run('xrdcp', ['-f', '-s', src, url], XRD_PROBE_ENV);
  if (r.code !== 0) throw new Error(`xrdcp ${src} ${url} failed: ${r.out}`);
}
