/**
 * scripts/factories/p3s-pdsh-launch. There is no sshd here, so a stand-in `ssh` runs the remote
 * command on this machine, in a home directory of the host's own and with a `hostname` that
 * answers the host's name; the "pilot" is a small Node program that records how it was started
 * and what signal ended it. That runs the real remote scripts: launch, pidfiles, logs, --kill.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Fakes, makeFakes, runFactory, until } from './factories-fakes.ts';

const TOKEN = 'p3s_pilottoken_s3cr3t';
let fakes: Fakes;
let tokenFile: string;
let pilot: string;
let records: string;

const FAKE_PILOT = `import { appendFileSync } from 'node:fs';
const out = process.env.FAKE_PILOT_RECORDS;
const note = (x) => appendFileSync(out, JSON.stringify({ pid: process.pid, ...x }) + '\\n');
note({ argv: process.argv.slice(2), token: process.env.P3S_TOKEN ?? null, cwd: process.cwd() });
process.on('SIGTERM', () => { note({ signal: 'SIGTERM' }); process.exit(0); });
setInterval(() => {}, 1000);
`;

before(() => {
  fakes = makeFakes();
  tokenFile = fakes.tokenFile(TOKEN);
  pilot = join(fakes.dir, 'fake-pilot.mjs');
  writeFileSync(pilot, FAKE_PILOT);
  records = join(fakes.dir, 'pilot-records.jsonl');
  writeFileSync(records, '');
  // ssh [options] host command...: run the command here, as that host would.
  fakes.program(
    'ssh',
    `while [ $# -gt 0 ]; do case $1 in -o) shift 2 ;; -*) shift ;; *) break ;; esac; done
host=$1; shift
if [ "$host" = unreachable ]; then echo "ssh: connect to host $host port 22: Connection refused" >&2; exit 255; fi
home=${fakes.dir}/home-$host
mkdir -p "$home/bin"
printf '#!/bin/sh\\necho %s\\n' "$host" > "$home/bin/hostname"
chmod +x "$home/bin/hostname"
cd "$home" && HOME=$home PATH="$home/bin:$PATH" exec sh -c "$*"`,
  );
});

after(() => {
  for (const r of readRecords()) {
    try {
      process.kill(r.pid, 'SIGKILL');
    } catch {}
  }
  fakes.remove();
});

function readRecords(): any[] {
  return readFileSync(records, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

const launch = (args: string[]) =>
  runFactory(
    fakes,
    'p3s-pdsh-launch',
    ['--ssh', '--token-file', tokenFile, '--pilot', pilot, '--node', process.execPath, ...args],
    { env: { FAKE_PILOT_RECORDS: records } },
  );
const pidfile = (host: string, tag: string) =>
  join(fakes.dir, `home-${host}`, '.p3s', 'pdsh', `${tag}.${host}.pid`);
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('p3s-pdsh-launch over ssh', () => {
  test('starts one nohup pilot process per host with --count N, a pidfile and a log there', async () => {
    const r = await launch([
      '-w',
      'h1,h2',
      '-n',
      '3',
      '--site',
      'lx',
      '--tag',
      't1',
      '--server',
      'http://p3s:8080',
    ]);
    assert.equal(r.code, 0, r.stderr);
    for (const h of ['h1', 'h2'])
      assert.match(
        r.stdout,
        new RegExp(`^${h}: started pilot process \\d+ .*log \\.p3s/pdsh/t1\\.${h}\\.log$`, 'm'),
      );
    const started = await until(() => {
      const rs = readRecords().filter((x) => x.argv);
      return rs.length === 2 && rs;
    }, 'two pilot processes');
    for (const h of ['h1', 'h2']) {
      const rec = started.find((x) => x.argv.includes(`t1@${h}`));
      assert.ok(rec, `a pilot on ${h}`);
      assert.deepEqual(rec.argv, [
        '--count',
        '3',
        '--server',
        'http://p3s:8080',
        '--site',
        'lx',
        '--extra',
        `t1@${h}`,
      ]);
      assert.equal(rec.token, TOKEN, 'the token reaches the pilot in its environment');
      assert.ok(
        !readFileSync(`/proc/${rec.pid}/cmdline`, 'utf8').includes(TOKEN),
        'and not on its command line',
      );
      assert.equal(readFileSync(pidfile(h, 't1'), 'utf8').trim(), String(rec.pid));
      assert.equal(statSync(pidfile(h, 't1')).mode & 0o077, 0, 'pidfile private');
      assert.ok(existsSync(join(fakes.dir, `home-${h}`, '.p3s', 'pdsh', `t1.${h}.log`)));
    }
  });

  test('--kill sends SIGTERM to the pilots it started, and to nothing else in the pidfile', async () => {
    const decoy = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      // A pid in the pidfile that is no longer our pilot (reused): it must survive.
      appendFileSync(pidfile('h1', 't1'), `${decoy.pid}\n`);
      const pilots = readRecords().filter((x) => x.argv?.join(' ').includes('t1@'));
      const r = await launch(['-w', 'h1,h2', '--kill', '--tag', 't1', '--wait', '10']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^h1: sent SIGTERM to 1 pilot process\(es\); 0 still running$/m);
      assert.match(r.stdout, /^h2: sent SIGTERM to 1 pilot process\(es\); 0 still running$/m);
      const termed = readRecords()
        .filter((x) => x.signal === 'SIGTERM')
        .map((x) => x.pid);
      for (const p of pilots) {
        assert.ok(termed.includes(p.pid), `pilot ${p.pid} got SIGTERM`);
        assert.ok(!alive(p.pid));
      }
      assert.ok(alive(decoy.pid!), 'the unrelated process is untouched');
      assert.ok(!existsSync(pidfile('h1', 't1')) && !existsSync(pidfile('h2', 't1')), 'pidfiles removed');
      const again = await launch(['-w', 'h1', '--kill', '--tag', 't1']);
      assert.match(again.stdout, /^h1: no pilots of t1 here$/m);
    } finally {
      decoy.kill('SIGKILL');
    }
  });

  test('an unreachable host fails the run, the other hosts still get their pilots', async () => {
    const r = await launch(['-w', 'h3,unreachable', '--tag', 't3']);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^h3: started pilot process/m);
    assert.match(r.stdout, /^unreachable: ssh: connect to host unreachable/m);
    assert.match(r.stderr, /1 of 2 host\(s\) failed/);
    await until(() => readRecords().some((x) => x.argv?.includes('t3@h3')), 'the pilot on h3');
    const k = await launch(['-w', 'h3', '--kill', '--tag', 't3', '--wait', '10']);
    assert.match(k.stdout, /sent SIGTERM to 1 pilot process\(es\); 0 still running/);
  });

  test('a token the host cannot read stops the launch there with a reason', async () => {
    const r = await runFactory(
      fakes,
      'p3s-pdsh-launch',
      ['--ssh', '-w', 'h4', '--token-file', '/nonexistent/pilot.token', '--pilot', pilot, '--tag', 't4'],
      { env: { FAKE_PILOT_RECORDS: records } },
    );
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^h4: .*no readable pilot token \/nonexistent\/pilot\.token$/m);
    assert.ok(!readRecords().some((x) => x.argv?.includes('t4@h4')));
  });
});

describe('p3s-pdsh-launch commands', () => {
  test('uses pdsh when it is installed: one command for all hosts, ranges allowed', async () => {
    fakes.program('pdsh', 'exit 99');
    try {
      const r = await runFactory(fakes, 'p3s-pdsh-launch', [
        '-w',
        'n[1-4],m1',
        '--token-file',
        tokenFile,
        '--pilot',
        pilot,
        '--dry-run',
      ]);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trim().split('\n');
      assert.equal(lines.length, 1);
      assert.match(lines[0]!, /^pdsh -S -R ssh -f 32 -w 'n\[1-4\],m1' 'sh -c /);
    } finally {
      rmSync(join(fakes.bin, 'pdsh'));
    }
  });

  test('without pdsh: one ssh per host, host ranges refused, the remote script on one line', async () => {
    const r = await runFactory(fakes, 'p3s-pdsh-launch', [
      '-w',
      'a,b',
      '--token-file',
      tokenFile,
      '--pilot',
      pilot,
      '--dry-run',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.deepEqual(
      lines.map((l) => l.split(' ').slice(0, 5).join(' ')),
      ['ssh -o BatchMode=yes -n a', 'ssh -o BatchMode=yes -n b'],
    );
    // One line: a tcsh login shell cannot take a newline inside quotes.
    assert.equal(lines.length, 2);
    const ranges = await runFactory(fakes, 'p3s-pdsh-launch', [
      '-w',
      'n[1-4]',
      '--token-file',
      tokenFile,
      '--pilot',
      pilot,
      '--dry-run',
    ]);
    assert.equal(ranges.code, 1);
    assert.match(ranges.stderr, /host ranges \(n\[1-4\]\) need pdsh/);
  });

  test('bad usage exits 2 with a one-line reason', async () => {
    for (const args of [
      [],
      ['-w', 'a', '-n', '0'],
      ['-w', 'a;rm', '--dry-run'],
      ['-w', 'a', '--wait', 'x', '--kill'],
    ]) {
      const r = await runFactory(fakes, 'p3s-pdsh-launch', ['--ssh', ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^p3s-pdsh-launch: .+ \(see --help\)\n$/);
    }
  });
});
