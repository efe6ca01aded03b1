/**
 * The pilot's loop in-process against a stand-in server, with real payload processes:
 * lifecycle, heartbeat actions, outages, conflicts, stops.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, beforeEach, describe, test } from 'node:test';
import { runPilot } from '../../pilot/agent.ts';
import { createLogger } from '../../pilot/log.ts';
import { type Options, parseOptions } from '../../pilot/options.ts';
import { groupMembers } from '../../pilot/payload.ts';
import { Stopper } from '../../pilot/stopper.ts';
import {
  type Answer,
  events,
  type FakeServer,
  type Recorded,
  startFakeServer,
  until,
} from './pilot-fake-server.ts';

const dir = mkdtempSync(join(tmpdir(), 'p3s-pilot-agent-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const log = createLogger({ level: 'silent', json: false });

let fake: FakeServer;
beforeEach(async () => {
  fake = await startFakeServer();
});
afterEach(() => fake.close());

function options(...argv: string[]): Options {
  const c = parseOptions(
    ['--server', fake.url, '--token', 't', '--wait', '0', '--period', '0', '--beat', '5', ...argv],
    { P3S_JOBLOG: join(dir, 'jobs') },
  );
  assert.equal(c.kind, 'run');
  return (c as { options: Options }).options;
}

function pilot(o: Options, stop = new Stopper()) {
  return runPilot(o, { stop, log, env: { PATH: process.env.PATH }, backoff: { baseMs: 1, maxMs: 20 } });
}

function job(payload: string, more: Record<string, unknown> = {}) {
  return {
    id: randomUUID(),
    name: 'test',
    jobtype: 'test',
    payload,
    env: { P3S_EXECMODE: 'SHELL' },
    ...more,
  };
}

/** Answers reports of one event with `answer` (as often as `times`), everything else by default. */
function onReport(event: string, answer: Answer, times = Number.POSITIVE_INFINITY) {
  let left = times;
  const previous = fake.override;
  fake.override = (r: Recorded) =>
    r.body?.event === event && left-- > 0 ? answer : (previous?.(r) ?? undefined);
}

/** Report events in order, heartbeats left out (how many fit in depends on timing). */
const withoutBeats = () => events(fake).filter((e) => e !== 'heartbeat');
const report = (event: string) => fake.reports.find((r) => r.event === event);

describe('pilot agent', () => {
  test('registers, runs a job, reports jobstart and jobstop, and stops when its cycles are used', async () => {
    const j = job('echo hello; echo oops >&2; exit 0', { timelimit: 30 });
    fake.jobs.push(j);
    assert.equal(await pilot(options('--cycles', '2', '--site', 'lxvm', '--extra', '42.0')), 0);

    const reg = fake.requests[0]?.body;
    assert.equal(fake.requests[0]?.path, '/pilots');
    assert.equal(reg.site, 'lxvm');
    assert.equal(reg.extra, '42.0');
    assert.ok(reg.key.length >= 32);
    assert.deepEqual(
      fake.requests.map((r) => r.body?.event ?? r.path.replace(/^\/pilots\/[^/]+/, '')),
      ['/pilots', '/poll', 'jobstart', 'jobstop', '/poll', 'stopped'],
    );
    // jobstart comes before the payload exists; its pid and start arrive with the final report.
    assert.deepEqual(report('jobstart'), { event: 'jobstart', jobId: j.id });
    const stop = report('jobstop');
    assert.ok(stop.pid > 0);
    assert.ok(Math.abs(Date.parse(stop.payloadStartedAt) - Date.now()) < 60_000);
    assert.deepEqual(
      { ...stop, pid: undefined, payloadStartedAt: undefined },
      {
        event: 'jobstop',
        jobId: j.id,
        pid: undefined,
        payloadStartedAt: undefined,
        exitCode: 0,
        stdoutTail: 'hello\n',
        stderrTail: 'oops\n',
      },
    );
    assert.equal(report('stopped').message, '2 cycles done');
  });

  test('a server that can answers a final report with the next job: no poll between jobs', async () => {
    fake.config = { ...fake.config, reportNext: true };
    fake.jobs.push(job('true'), job('true'), job('true'));
    assert.equal(await pilot(options('--cycles', '4')), 0);
    assert.deepEqual(
      fake.requests.map((r) => r.body?.event ?? r.path.replace(/^\/pilots\/[^/]+/, '')),
      [
        '/pilots',
        '/poll',
        'jobstart',
        'jobstop',
        'jobstart',
        'jobstop',
        'jobstart',
        'jobstop',
        '/poll',
        'stopped',
      ],
    );
    // Every final report but the last cycle's asked for the next job.
    assert.deepEqual(
      fake.reports.filter((r) => r.event === 'jobstop').map((r) => r.next),
      [true, true, true],
    );
  });

  test('the last cycle, --once, or a server that cannot: no next job asked for', async () => {
    fake.config = { ...fake.config, reportNext: true };
    fake.jobs.push(job('true'), job('true'));
    assert.equal(await pilot(options('--cycles', '1')), 0);
    assert.equal(report('jobstop').next, undefined);
    fake.reports.length = 0;
    assert.equal(await pilot(options('--once')), 0);
    assert.equal(report('jobstop').next, undefined);
    fake.reports.length = 0;
    fake.config = { ...fake.config, reportNext: false };
    fake.jobs.push(job('true'));
    assert.equal(await pilot(options('--cycles', '2')), 0);
    assert.equal(report('jobstop').next, undefined);
  });

  test('heartbeats flow while the payload runs; killjob kills it and the pilot goes on', async () => {
    fake.jobs.push(job('sleep 100'));
    onReport('heartbeat', { status: 200, body: { status: 'ok', action: 'killjob' } });
    assert.equal(await pilot(options('--cycles', '2', '--beat', '0.05')), 0);
    assert.deepEqual(withoutBeats(), ['jobstart', 'killed', 'stopped']);
    assert.equal(report('killed').signal, 'SIGTERM');
    assert.equal(report('killed').exitCode, null);
    assert.deepEqual(groupMembers(report('killed').pid), []);
    assert.equal(fake.requests.filter((r) => r.path.endsWith('/poll')).length, 2);
  });

  test('drain in a heartbeat answer lets the payload finish, then the pilot stops', async () => {
    fake.jobs.push(job('sleep 0.3; echo finished'));
    onReport('heartbeat', { status: 200, body: { status: 'ok', action: 'drain' } });
    assert.equal(await pilot(options('--beat', '0.05')), 0); // cycles: forever
    const ev = events(fake);
    assert.deepEqual([ev[0], ...ev.slice(-2)], ['jobstart', 'jobstop', 'stopped']);
    assert.equal(report('jobstop').stdoutTail, 'finished\n');
    assert.equal(report('stopped').message, 'server said drain');
    assert.equal(fake.requests.filter((r) => r.path.endsWith('/poll')).length, 1);
  });

  test('kill in a heartbeat answer kills the payload, reports killed, then stopped', async () => {
    fake.jobs.push(job('sleep 100'));
    onReport('heartbeat', { status: 200, body: { status: 'ok', action: 'kill' } });
    assert.equal(await pilot(options('--beat', '0.05')), 0);
    assert.deepEqual(withoutBeats(), ['jobstart', 'killed', 'stopped']);
    assert.equal(report('stopped').message, 'server said kill');
  });

  test('a poll answered drain or killed ends the pilot', async () => {
    for (const state of ['drain', 'killed']) {
      fake.reports.length = 0;
      fake.override = (r) => (r.path.endsWith('/poll') ? { status: 200, body: { state } } : undefined);
      assert.equal(await pilot(options()), 0);
      assert.deepEqual(events(fake), ['stopped']);
      assert.equal(report('stopped').message, `server said ${state}`);
    }
  });

  test('the time limit ends the job as timelimit', async () => {
    fake.jobs.push(job('sleep 100', { timelimit: 0.3 }));
    assert.equal(await pilot(options('--once')), 0);
    assert.deepEqual(withoutBeats(), ['jobstart', 'timelimit', 'stopped']);
    assert.match(report('timelimit').message, /time limit/);
  });

  test('a job that cannot start is reported as nonstarter with the reason, and the pilot goes on', async () => {
    fake.jobs.push(job('/nonexistent/program', { env: {} }), job('true'));
    assert.equal(await pilot(options('--cycles', '2')), 0);
    // jobstart is acknowledged before the spawn is tried, so a nonstarter follows its jobstart.
    assert.deepEqual(events(fake), ['jobstart', 'nonstarter', 'jobstart', 'jobstop', 'stopped']);
    assert.match(report('nonstarter').message, /ENOENT/);
  });

  test('--once runs one job, leaves the rest, and exits', async () => {
    fake.jobs.push(job('true'), job('true'));
    assert.equal(await pilot(options('--once')), 0);
    assert.deepEqual(events(fake), ['jobstart', 'jobstop', 'stopped']);
    assert.equal(fake.jobs.length, 1);
  });

  test('empty polls count as cycles', async () => {
    assert.equal(await pilot(options('--cycles', '3')), 0);
    assert.equal(fake.requests.filter((r) => r.path.endsWith('/poll')).length, 3);
    assert.deepEqual(events(fake), ['stopped']);
  });

  test('a pause the server set (paced polling) is silent; the pilot’s own longer period beats', async () => {
    // Paced: the server said when to come back and expects no heartbeat before (docs/protocol.md).
    fake.override = (r) =>
      r.path.endsWith('/poll') ? { status: 200, body: { state: 'no jobs', retryAfter: 0.4 } } : undefined;
    const started = Date.now();
    assert.equal(await pilot(options('--cycles', '2', '--beat', '0.05')), 0);
    assert.ok(Date.now() - started >= 400, 'it waited the retryAfter between its two polls');
    assert.deepEqual(events(fake), ['stopped'], 'no heartbeat while it waited');

    // Its own period (longer than the server's retryAfter): heartbeats keep it alive meanwhile.
    fake.reports.length = 0;
    fake.override = (r) =>
      r.path.endsWith('/poll') ? { status: 200, body: { state: 'no jobs', retryAfter: 0.01 } } : undefined;
    assert.equal(await pilot(options('--cycles', '2', '--beat', '0.05', '--period', '0.4')), 0);
    assert.ok(events(fake).includes('heartbeat'), events(fake).join(' '));
  });

  test('after its lifetime the pilot takes no more work', async () => {
    fake.holdMs = 50;
    const started = Date.now();
    assert.equal(await pilot(options('--lifetime', '0.3', '--wait', '1')), 0);
    assert.ok(Date.now() - started >= 300);
    assert.equal(report('stopped').message, 'lifetime reached');
    assert.ok(fake.requests.filter((r) => r.path.endsWith('/poll')).length >= 2);
  });

  test('a server outage does not touch the payload; the final report is retried until accepted', async () => {
    fake.jobs.push(job('sleep 0.3; echo survived'));
    onReport('heartbeat', { status: 503, body: {} });
    onReport('jobstop', { status: 503, body: {} }, 3);
    assert.equal(await pilot(options('--once', '--beat', '0.05')), 0);
    assert.ok(
      fake.reports.some((r) => r.event === 'heartbeat'),
      'heartbeats failed meanwhile',
    );
    const stops = fake.reports.filter((r) => r.event === 'jobstop');
    assert.equal(stops.length, 4);
    assert.deepEqual(
      stops.map((r) => [r.exitCode, r.stdoutTail]),
      Array(4).fill([0, 'survived\n']),
    );
  });

  test('a 409 to jobstart means the job is not ours: the payload is never started, nothing more reported', async () => {
    const marker = join(dir, `started-${randomUUID()}`);
    fake.jobs.push(job(`touch ${marker}; sleep 100`));
    onReport('jobstart', { status: 409, body: { message: 'job was taken back' } });
    assert.equal(await pilot(options('--cycles', '1')), 0);
    assert.deepEqual(events(fake), ['jobstart', 'stopped']);
    assert.equal(existsSync(marker), false, 'the payload must not have run');
  });

  test('killjob in the answer to jobstart (the job ended meanwhile): the payload is never started', async () => {
    const marker = join(dir, `started-${randomUUID()}`);
    fake.jobs.push(job(`touch ${marker}; sleep 100`));
    onReport('jobstart', { status: 200, body: { status: 'ok', action: 'killjob' } });
    assert.equal(await pilot(options('--cycles', '1')), 0);
    assert.deepEqual(events(fake), ['jobstart', 'stopped']);
    assert.equal(existsSync(marker), false, 'the payload must not have run');
  });

  test('401 on register exits 3 without anything else', async () => {
    fake.override = () => ({ status: 401, body: { message: 'bad token' } });
    assert.equal(await pilot(options()), 3);
    assert.equal(fake.requests.length, 1);
  });

  test('a poll answered 409 (the server ended this pilot): it registers again under a new id and carries on', async () => {
    let refused = 0;
    fake.override = (r) =>
      r.path.endsWith('/poll') && refused++ === 0
        ? { status: 409, body: { message: 'pilot x is timeout' } }
        : undefined;
    fake.jobs.push(job('true'));
    assert.equal(await pilot(options('--once')), 0);
    const regs = fake.requests.filter((r) => r.path === '/pilots').map((r) => r.body.id);
    assert.equal(regs.length, 2);
    assert.notEqual(regs[0], regs[1]);
    assert.deepEqual(events(fake), ['jobstart', 'jobstop', 'stopped']);
    // Everything after the second registration is under the new id.
    const polls = fake.requests.filter((r) => r.path.endsWith('/poll')).map((r) => r.path.split('/')[2]);
    assert.deepEqual(polls, [regs[0], regs[1]]);
  });

  test('a server that refuses every poll, even after registering again, makes the pilot exit 4', async () => {
    fake.override = (r) =>
      r.path.endsWith('/poll') ? { status: 409, body: { message: 'pilot timeout' } } : undefined;
    assert.equal(await pilot(options()), 4);
    assert.equal(fake.requests.filter((r) => r.path === '/pilots').length, 4);
  });

  test('a stop while idle ends the held poll at once and reports stopped', async () => {
    fake.override = (r) => (r.path.endsWith('/poll') ? new Promise<Answer>(() => {}) : undefined);
    const stop = new Stopper();
    const running = pilot(options('--wait', '20'), stop);
    await until('the poll', () => fake.requests.some((r) => r.path.endsWith('/poll')));
    stop.stop('SIGTERM');
    assert.equal(await running, 0);
    assert.deepEqual(events(fake), ['stopped']);
    assert.equal(report('stopped').message, 'SIGTERM');
  });

  test('a stop during a job gives the payload its grace, then kills and reports it', async () => {
    fake.jobs.push(job('sleep 100'));
    const stop = new Stopper();
    const running = pilot(options('--grace', '0.2'), stop);
    await until('jobstart', () => report('jobstart') !== undefined);
    stop.stop('SIGTERM');
    assert.equal(await running, 0);
    assert.deepEqual(withoutBeats(), ['jobstart', 'killed', 'stopped']);
    assert.match(report('killed').message, /pilot stopping \(SIGTERM\), grace over/);
    assert.deepEqual(groupMembers(report('killed').pid), []);
  });

  test('a payload that ends within the grace is reported as it ended', async () => {
    fake.jobs.push(job('sleep 0.3; exit 4'));
    const stop = new Stopper();
    const running = pilot(options('--grace', '30'), stop);
    await until('jobstart', () => report('jobstart') !== undefined);
    stop.stop('SIGTERM');
    assert.equal(await running, 0);
    assert.deepEqual(withoutBeats(), ['jobstart', 'jobstop', 'stopped']);
    assert.equal(report('jobstop').exitCode, 4);
  });

  test('the payload environment has the site env, the job env and the pilot and job ids', async () => {
    fake.config = { ...fake.config, env: { SITE_VAR: 's', P3S_EXECMODE: 'SHELL' } };
    const j = job('echo "$SITE_VAR $JOB_VAR $P3S_JOB_UUID $P3S_PILOT_UUID $P3S_SITE"', {
      env: { JOB_VAR: 'j' },
    });
    fake.jobs.push(j);
    assert.equal(await pilot(options('--once', '--site', 'np04')), 0);
    const pilotId = fake.requests[0]?.body.id;
    assert.equal(report('jobstop').stdoutTail, `s j ${j.id} ${pilotId} np04\n`);
  });
});
