/** Payload execution with real processes: modes, cwd, env, time limit, kills, tails. */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { allowedEnv, execMode, jobEnvironment } from '../../pilot/job-env.ts';
import {
  groupMembers,
  type PayloadSpec,
  type RunningPayload,
  readTail,
  startPayload,
  TAIL_BYTES,
} from '../../pilot/payload.ts';
import { until } from './pilot-fake-server.ts';

const root = mkdtempSync(join(tmpdir(), 'p3s-pilot-payload-'));
after(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
function spec(payload: string, more: Partial<PayloadSpec> = {}): PayloadSpec {
  n++;
  return {
    jobId: `job-${n}`,
    payload,
    mode: 'direct',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    timelimit: 0,
    joblog: join(root, 'jobs'),
    workdir: join(root, 'work'),
    killGrace: 5,
    cwd: root,
    ...more,
  };
}

async function start(s: PayloadSpec): Promise<RunningPayload> {
  const r = await startPayload(s);
  if (!r.ok) assert.fail(`payload did not start: ${r.message}`);
  return r.payload;
}

describe('payload execution', () => {
  test('shell mode runs the string with /bin/sh -c and reports its exit code and output', async () => {
    const p = await start(spec('echo out; echo err >&2; exit 3', { mode: 'shell' }));
    const o = await p.done;
    assert.equal(o.event, 'jobstop');
    assert.equal(o.exitCode, 3);
    assert.equal(o.signal, null);
    assert.equal(o.stdoutTail, 'out\n');
    assert.equal(o.stderrTail, 'err\n');
    assert.equal(readFileSync(join(root, 'jobs', `job-${n}.out`), 'utf8'), 'out\n');
    assert.equal(readFileSync(join(root, 'jobs', `job-${n}.err`), 'utf8'), 'err\n');
  });

  test('direct mode passes quoted words as single arguments, with no shell in between', async () => {
    const p = await start(spec(`printf '[%s]' "a b" 'c "d"' e\\ f '$HOME' "x\\"y"`));
    const o = await p.done;
    assert.equal(o.exitCode, 0);
    assert.equal(o.stdoutTail, '[a b][c "d"][e f][$HOME][x"y]');
  });

  test('every job runs in a fresh work directory of its own, even with the same job id', async () => {
    const a = await start(spec('pwd', { jobId: 'same' }));
    const oa = await a.done;
    const b = await start(spec('pwd', { jobId: 'same' }));
    const ob = await b.done;
    assert.equal(oa.stdoutTail.trim(), a.dir);
    assert.equal(ob.stdoutTail.trim(), b.dir);
    assert.notEqual(a.dir, b.dir);
    assert.equal(dirname(a.dir), join(root, 'work'));
  });

  test('a relative executable path is resolved against the pilot cwd, not the job dir', async () => {
    writeFileSync(join(root, 'rel.sh'), '#!/bin/sh\necho rel "$1"\n');
    chmodSync(join(root, 'rel.sh'), 0o755);
    const o = await (await start(spec('./rel.sh arg'))).done;
    assert.equal(o.stdoutTail, 'rel arg\n');
  });

  test('COPY mode copies the payload into the job dir, runs the copy there, and passes arguments', async () => {
    writeFileSync(join(root, 'copyme.sh'), '#!/bin/sh\necho "$0|$(pwd)|$1|$2"\n');
    chmodSync(join(root, 'copyme.sh'), 0o755);
    const p = await start(spec(`${join(root, 'copyme.sh')} one 'two words'`, { mode: 'copy' }));
    const o = await p.done;
    assert.equal(o.exitCode, 0, o.stderrTail);
    assert.equal(o.stdoutTail, `${join(p.dir, 'copyme.sh')}|${p.dir}|one|two words\n`);
    assert.ok(existsSync(join(p.dir, 'copyme.sh')));
  });

  test('COPY mode of a missing file is a nonstarter that says why', async () => {
    const r = await startPayload(spec('/nonexistent/p3s-payload.sh', { mode: 'copy' }));
    assert.equal(r.ok, false);
    assert.match(!r.ok ? r.message : '', /ENOENT/);
  });

  test('a missing executable is a nonstarter, and the reason is also in the .err file', async () => {
    const s = spec('/nonexistent/p3s-no-such-program --flag');
    const r = await startPayload(s);
    assert.equal(r.ok, false);
    assert.match(!r.ok ? r.message : '', /ENOENT/);
    assert.match(readFileSync(join(s.joblog, `${s.jobId}.err`), 'utf8'), /nonstarter: ENOENT/);
  });

  test('a file that is not executable is a nonstarter (EACCES)', async () => {
    writeFileSync(join(root, 'plain.txt'), 'not a program\n');
    chmodSync(join(root, 'plain.txt'), 0o644);
    const r = await startPayload(spec(join(root, 'plain.txt')));
    assert.equal(r.ok, false);
    assert.match(!r.ok ? r.message : '', /EACCES/);
  });

  test('an unbalanced quote in a direct payload is a nonstarter', async () => {
    const r = await startPayload(spec(`echo 'oops`));
    assert.equal(r.ok, false);
    assert.match(!r.ok ? r.message : '', /unterminated single quote/);
  });

  test('a payload killed by a signal reports the signal name and a null exit code', async () => {
    const o = await (await start(spec('kill -SEGV $$', { mode: 'shell' }))).done;
    assert.equal(o.event, 'jobstop');
    assert.equal(o.exitCode, null);
    assert.equal(o.signal, 'SIGSEGV');
  });

  test('the time limit SIGTERMs the whole process group and reports timelimit', async () => {
    const p = await start(spec('sleep 100 & echo $!; sleep 100', { mode: 'shell', timelimit: 0.3 }));
    await until(
      'the background child to be started',
      () => readTail(join(root, 'jobs', `job-${n}.out`)) !== '',
    );
    const background = Number(readTail(join(root, 'jobs', `job-${n}.out`)).trim());
    assert.ok((groupMembers(p.pid) ?? []).length >= 2, 'the group holds the shell and its children');
    const o = await p.done;
    assert.equal(o.event, 'timelimit');
    assert.equal(o.signal, 'SIGTERM');
    assert.match(o.message ?? '', /time limit of 0.3 s/);
    assert.deepEqual(groupMembers(p.pid), []);
    assert.ok(!alive(background), `background child ${background} is gone`);
  });

  test('a payload that ignores SIGTERM gets SIGKILL after the kill grace', async () => {
    const started = Date.now();
    const p = await start(spec(`trap '' TERM; sleep 100`, { mode: 'shell', timelimit: 0.2, killGrace: 0.3 }));
    const o = await p.done;
    assert.equal(o.event, 'timelimit');
    assert.equal(o.signal, 'SIGKILL');
    assert.ok(Date.now() - started >= 500, 'waited for the kill grace');
    assert.deepEqual(groupMembers(p.pid), []);
  });

  test('a pilot blocked past the limit (its guard killed the payload) still reports timelimit', async () => {
    const p = await start(spec('sleep 100 & sleep 100', { mode: 'shell', timelimit: 0.2, killGrace: 0.2 }));
    await until('the payload group', () => (groupMembers(p.pid) ?? []).length >= 2);
    // Block this process (not a spin: no CPU) well past the guard's deadline (0.2 + 0.2 + 1 s),
    // as a stopped or swapped-out pilot would be; the guard acts meanwhile.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2500);
    assert.deepEqual(groupMembers(p.pid), [], 'the guard ended the group while the pilot was blocked');
    const o = await p.done;
    assert.equal(o.event, 'timelimit');
    assert.equal(o.signal, 'SIGTERM');
  });

  test('kill() ends the payload as killed, with the reason', async () => {
    const p = await start(spec('sleep 100'));
    p.kill('killed', 'asked by the server');
    const o = await p.done;
    assert.equal(o.event, 'killed');
    assert.equal(o.signal, 'SIGTERM');
    assert.equal(o.message, 'asked by the server');
  });

  test('processes a finished payload left behind in its group are cleaned up', async () => {
    const p = await start(spec('sleep 100 & echo $!', { mode: 'shell' }));
    const o = await p.done;
    assert.equal(o.event, 'jobstop');
    assert.equal(o.exitCode, 0);
    assert.ok(!alive(Number(o.stdoutTail.trim())));
    assert.deepEqual(groupMembers(p.pid), []);
  });

  test('tails are bounded to the last 4 KiB', async () => {
    const o = await (await start(spec(`head -c 20000 /dev/zero | tr '\\0' x; echo END`, { mode: 'shell' })))
      .done;
    assert.equal(o.stdoutTail.length, TAIL_BYTES);
    assert.ok(o.stdoutTail.endsWith('xxxEND\n'));
  });

  test('a tail never starts in the middle of a UTF-8 character', () => {
    const file = join(root, 'utf8.txt');
    writeFileSync(file, 'é'.repeat(100)); // 2 bytes each
    const tail = readTail(file, 51);
    assert.equal(tail, 'é'.repeat(25));
    assert.equal(readTail(join(root, 'missing.txt')), '');
  });

  test('the payload sees the composed environment and nothing else', async () => {
    const env = jobEnvironment({
      pilotEnv: { PATH: process.env.PATH, HOME: '/home/p', SECRET: 's', P3S_TOKEN: 't', P3S_X: 'x' },
      allow: ['PATH', 'HOME', 'P3S_*'],
      siteEnv: { SITE_VAR: 'site', SHARED: 'from-site' },
      jobEnv: { SHARED: 'from-job', P3S_JOB_UUID: 'forged' },
      jobId: 'j-1',
      pilotId: 'p-1',
      site: 'lxvm',
    });
    const o = await (await start(spec('env', { env }))).done;
    const seen = Object.fromEntries(
      o.stdoutTail
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    delete seen.PWD; // some systems' env adds it
    assert.deepEqual(seen, {
      PATH: process.env.PATH,
      HOME: '/home/p',
      P3S_X: 'x',
      SITE_VAR: 'site',
      SHARED: 'from-job',
      P3S_JOB_UUID: 'j-1',
      P3S_PILOT_UUID: 'p-1',
      P3S_SITE: 'lxvm',
    });
  });
});

describe('environment and mode', () => {
  test('the default allow-list passes the usual variables and P3S_* but never P3S_TOKEN', () => {
    const env = allowedEnv(
      { PATH: '/bin', HOME: '/h', AWS_SECRET_ACCESS_KEY: 'k', P3S_HOME: '/p', P3S_TOKEN: 't', LANG: 'C' },
      ['PATH', 'HOME', 'USER', 'LANG', 'TZ', 'TMPDIR', 'SHELL', 'P3S_*'],
    );
    assert.deepEqual(env, { PATH: '/bin', HOME: '/h', P3S_HOME: '/p', LANG: 'C' });
    assert.deepEqual(allowedEnv({ P3S_TOKEN: 't' }, ['P3S_TOKEN']), {});
  });

  test('P3S_MODE=COPY wins over P3S_EXECMODE; any non-empty P3S_EXECMODE means the shell', () => {
    assert.equal(execMode({ P3S_MODE: 'COPY', P3S_EXECMODE: 'SHELL' }), 'copy');
    assert.equal(execMode({ P3S_MODE: 'copy' }), 'copy');
    assert.equal(execMode({ P3S_EXECMODE: 'SHELL' }), 'shell');
    assert.equal(execMode({ P3S_EXECMODE: 'yes' }), 'shell');
    assert.equal(execMode({ P3S_EXECMODE: '' }), 'direct');
    assert.equal(execMode({ P3S_MODE: 'OTHER' }), 'direct');
  });
});

function alive(pid: number): boolean {
  const members = readFileOrEmpty(`/proc/${pid}/stat`);
  if (!members) return false;
  const state = members.slice(members.lastIndexOf(')') + 2).split(' ')[0];
  return state !== 'Z' && state !== 'X';
}

function readFileOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
