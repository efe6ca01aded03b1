/**
 * Stand-ins for the pilot factories' tests (scripts/factories): a directory of fake programs
 * (sbatch, squeue, condor_submit, ssh, ...) put first on PATH that record how they were called,
 * and a fake p3s API answering GET /pilots and GET /sites/{name} for the top-up counts.
 */
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export const FACTORIES = join(import.meta.dirname, '..', '..', 'scripts', 'factories');

export interface Fakes {
  dir: string;
  bin: string;
  /** Writes an executable `sh` script named `name` into the fake bin directory. */
  program(name: string, body: string): void;
  /** A program that records its argv (`<name>.args`, NUL separated), stdin and env, then runs `then`. */
  recorder(name: string, then?: string): void;
  args(name: string): string[];
  stdin(name: string): string;
  env(name: string): Record<string, string>;
  /** A pilot token file (mode 600) holding `token`. */
  tokenFile(token: string, name?: string, mode?: number): string;
  remove(): void;
}

export function makeFakes(): Fakes {
  const dir = mkdtempSync(join(tmpdir(), 'p3s-factory-fakes-'));
  const bin = join(dir, 'bin');
  const fakes: Fakes = {
    dir,
    bin,
    program(name, body) {
      const p = join(bin, name);
      writeFileSync(p, `#!/bin/sh\n${body}\n`);
      chmodSync(p, 0o755);
    },
    recorder(name, then = '') {
      fakes.program(
        name,
        [
          `printf '%s\\0' "$@" > "${dir}/${name}.args"`,
          `cat > "${dir}/${name}.stdin"`,
          `env > "${dir}/${name}.env"`,
          then,
        ].join('\n'),
      );
    },
    args: (name) =>
      readFileSync(join(dir, `${name}.args`), 'utf8')
        .split('\0')
        .slice(0, -1),
    stdin: (name) => readFileSync(join(dir, `${name}.stdin`), 'utf8'),
    env: (name) =>
      Object.fromEntries(
        readFileSync(join(dir, `${name}.env`), 'utf8')
          .split('\n')
          .filter((l) => l.includes('='))
          .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
      ),
    tokenFile(token, name = 'pilot.token', mode = 0o600) {
      const p = join(dir, name);
      writeFileSync(p, `${token}\n`, { mode });
      chmodSync(p, mode);
      return p;
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
  mkdirSync(bin);
  return fakes;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  json: any;
}

/** Runs a factory script with the fakes first on PATH and nothing from the caller's P3S_* env. */
export function runFactory(
  fakes: Fakes,
  script: string,
  args: string[],
  opts: { env?: Record<string, string>; cwd?: string } = {},
): Promise<RunResult> {
  const env: Record<string, string> = {
    PATH: `${fakes.bin}:${dirname(process.execPath)}:/usr/bin:/bin`,
    HOME: fakes.dir,
    ...opts.env,
  };
  return new Promise((resolve) => {
    const child = execFile(
      join(FACTORIES, script),
      args,
      { env, cwd: opts.cwd ?? fakes.dir, timeout: 30_000 },
      (err, stdout, stderr) => {
        let json: unknown;
        try {
          json = JSON.parse(stdout);
        } catch {}
        resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr, json });
      },
    );
    child.stdin?.end();
  });
}

export interface FakeApi {
  url: string;
  requests: { path: string; headers: IncomingHttpHeaders }[];
  close(): Promise<void>;
}

/** GET /pilots?state=&site= answers from `pilots` (filtered like the real API); GET /sites/{name} from `sites`. */
export async function startFakeApi(
  pilots: Record<string, unknown>[],
  sites: Record<string, Record<string, unknown>> = {},
): Promise<FakeApi> {
  const requests: FakeApi['requests'] = [];
  const server = createServer((req, res) => {
    requests.push({ path: req.url ?? '', headers: req.headers });
    const url = new URL(req.url ?? '/', 'http://x');
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.headers.authorization !== 'Bearer viewer-token') return send(401, { code: 'unauthorized' });
    if (url.pathname === '/pilots') {
      const state = url.searchParams.get('state');
      const site = url.searchParams.get('site');
      return send(200, {
        pilots: pilots.filter((p) => (!state || p.state === state) && (!site || p.site === site)),
      });
    }
    const m = /^\/sites\/([^/]+)$/.exec(url.pathname);
    if (m && sites[m[1]!]) return send(200, sites[m[1]!]);
    send(404, { code: 'not_found' });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/** Polls `check` until it returns a truthy value or the deadline passes (no sleeps as synchronisation). */
export async function until<T>(
  check: () => T | undefined | false,
  what: string,
  timeoutMs = 10_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
