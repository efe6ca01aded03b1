/** argv + environment → pilot options, and how the server's site config fills the gaps. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { batchId, type Options, parseOptions, settle, UsageError } from '../../pilot/options.ts';

const home = mkdtempSync(join(tmpdir(), 'p3s-pilot-options-'));
after(() => rmSync(home, { recursive: true, force: true }));

function run(argv: string[], env: NodeJS.ProcessEnv = {}): Options {
  const c = parseOptions(argv, { P3S_TOKEN: 'tok', ...env });
  assert.equal(c.kind, 'run');
  return (c as { options: Options }).options;
}

describe('pilot options', () => {
  test('with no flags, the environment and documented defaults apply', () => {
    const o = run([], { P3S_JOBLOG: '/data/jobs', P3S_SITE: 'lxvm' });
    assert.equal(o.server, 'http://127.0.0.1:8080');
    assert.equal(o.token, 'tok');
    assert.equal(o.site, 'lxvm');
    assert.equal(o.joblog, '/data/jobs');
    assert.equal(o.workdir, '/data/work');
    assert.equal(o.count, 1);
    assert.equal(o.inProcess, false);
    assert.equal(o.grace, 10);
    assert.equal(o.killGrace, 5);
    assert.equal(o.once, false);
    assert.equal(o.pilotlog, undefined);
    // Left to the server's config:
    assert.equal(o.cycles, undefined);
    assert.equal(o.period, undefined);
    assert.equal(o.beat, undefined);
    assert.equal(o.wait, undefined);
    assert.equal(o.lifetime, undefined);
    assert.deepEqual(o.envAllow, ['PATH', 'HOME', 'USER', 'LANG', 'TZ', 'TMPDIR', 'SHELL', 'P3S_*']);
    assert.equal(run([]).joblog, join(tmpdir(), 'p3s', 'jobs'));
  });

  test('flags win over the environment; long and short forms both work', () => {
    const o = run(
      ['-S', 'http://srv:9000///', '--site', 'np04', '-c', '3', '--period', '0.5', '-b', '2', '--wait', '0'],
      { P3S_SERVER: 'http://other', P3S_SITE: 'lxvm' },
    );
    assert.equal(o.server, 'http://srv:9000');
    assert.equal(o.site, 'np04');
    assert.equal(o.cycles, 3);
    assert.equal(o.period, 0.5);
    assert.equal(o.beat, 2);
    assert.equal(o.wait, 0);
    const more = run([
      '--token=flagtok',
      '--lifetime',
      '3600',
      '--once',
      '--grace',
      '1',
      '--kill-grace',
      '0.5',
      '-L',
      'rel/jobs',
      '--workdir',
      '/w',
      '-l',
      '/logs',
      '-e',
      '77.1',
      '-n',
      '4',
      '--in-process',
      '--env-allow',
      'PATH, LC_* ,',
      '--json',
      '--log-level',
      'debug',
    ]);
    assert.equal(more.token, 'flagtok');
    assert.equal(more.lifetime, 3600);
    assert.equal(more.once, true);
    assert.equal(more.grace, 1);
    assert.equal(more.killGrace, 0.5);
    assert.equal(more.joblog, join(process.cwd(), 'rel/jobs'));
    assert.equal(more.workdir, '/w');
    assert.equal(more.pilotlog, '/logs');
    assert.equal(more.extra, '77.1');
    assert.equal(more.count, 4);
    assert.equal(more.inProcess, true);
    assert.deepEqual(more.envAllow, ['PATH', 'LC_*']);
    assert.equal(more.json, true);
    assert.equal(more.logLevel, 'debug');
  });

  test('the last --count wins, which is how --count children become single pilots', () => {
    assert.equal(run(['--count', '5', '--count', '1']).count, 1);
  });

  test('the token comes from $P3S_HOME/pilot.token when neither flag nor P3S_TOKEN gives one', () => {
    writeFileSync(join(home, 'pilot.token'), 'p3s_file_token\n');
    const c = parseOptions([], { P3S_HOME: home });
    assert.equal(c.kind === 'run' && c.options.token, 'p3s_file_token');
  });

  test('without any token the pilot refuses to start and says where it looked', () => {
    const empty = mkdtempSync(join(home, 'empty-'));
    assert.throws(
      () => parseOptions([], { P3S_HOME: empty }),
      (err: Error) => {
        assert.ok(err instanceof UsageError);
        assert.match(err.message, new RegExp(`${join(empty, 'pilot.token')}`));
        return true;
      },
    );
  });

  test('bad numbers, unknown flags, stray words and a bad server URL are usage errors', () => {
    for (const argv of [
      ['--cycles', '-1'],
      ['--cycles', '1.5'],
      ['--count', '0'],
      ['--beat', '0'],
      ['--wait', 'abc'],
      ['--wait', '2.5'],
      ['--period', ''],
      ['--frobnicate'],
      ['extra-word'],
      ['--server', 'ftp://x'],
      ['--log-level', 'loud'],
      ['--site', 'bad site'],
    ]) {
      assert.throws(() => parseOptions(argv, { P3S_TOKEN: 't' }), UsageError, argv.join(' '));
    }
  });

  test('--help and --version need no token', () => {
    assert.deepEqual(parseOptions(['--help'], {}), { kind: 'help' });
    assert.deepEqual(parseOptions(['-V'], {}), { kind: 'version' });
  });

  test('the batch id comes from P3S_EXTRA, else Slurm, else the HTCondor job ad', () => {
    const ad = join(home, '.job.ad');
    writeFileSync(ad, 'Owner = "np04dqm"\nClusterId = 4242\nProcId = 7\n');
    assert.equal(batchId({ P3S_EXTRA: 'x1', SLURM_JOB_ID: '99', _CONDOR_JOB_AD: ad }), 'x1');
    assert.equal(batchId({ SLURM_JOB_ID: '99', _CONDOR_JOB_AD: ad }), '99');
    assert.equal(batchId({ _CONDOR_JOB_AD: ad }), '4242.7');
    assert.equal(batchId({ _CONDOR_JOB_AD: join(home, 'missing.ad') }), undefined);
    assert.equal(batchId({}), undefined);
    assert.equal(run([], { SLURM_JOB_ID: '123' }).extra, '123');
  });
});

describe('settling options against the server config', () => {
  const config = {
    beat: 7,
    longpoll: 15,
    period: 3,
    cycles: 9,
    lifetime: 600,
    env: { A: '1' },
    reportNext: true,
  };

  test('the server config fills what the command line left open', () => {
    assert.deepEqual(settle(run([]), config), {
      cycles: 9,
      wait: 15,
      period: 0, // long-poll on: no extra pause
      beat: 7,
      lifetime: 600,
      siteEnv: { A: '1' },
      reportNext: true,
    });
  });

  test('the command line wins over the server config', () => {
    const s = settle(run(['-c', '1', '--wait', '0', '--period', '2', '-b', '1', '--lifetime', '0']), config);
    assert.deepEqual(s, {
      cycles: 1,
      wait: 0,
      period: 2,
      beat: 1,
      lifetime: 0,
      siteEnv: { A: '1' },
      reportNext: true,
    });
  });

  test("without long-poll the server's period applies; with no config at all, built-in defaults", () => {
    assert.equal(settle(run(['--wait', '0']), config).period, 3);
    assert.deepEqual(settle(run([]), {}), {
      cycles: 0,
      wait: 20,
      period: 0,
      beat: 5,
      lifetime: 0,
      siteEnv: {},
      reportNext: false, // a server that does not say it can
    });
    assert.equal(settle(run(['--wait', '0']), {}).period, 5);
  });
});
