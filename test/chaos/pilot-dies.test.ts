/**
 * Fault injection on real pilot processes: the pilot is SIGKILLed (nothing in it can run) or
 * SIGSTOPped (alive but unable to act) while its payload runs. The payload's guard must end the
 * payload's whole process group; the tables must show the job ended once, as `pilotTO`, with
 * its cap slot back.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { after, afterEach, before, describe, test } from 'node:test';
import { groupMembers } from '../../pilot/payload.ts';
import { type PilotProcess, startPilot } from '../helpers/pilots.ts';
import { startTestStack, type TestStack, waitFor } from '../helpers/stack.ts';

let s: TestStack;
let pilots: PilotProcess[] = [];
/** Payload groups seen by a test: killed afterwards in case the guard failed the test. */
const groups = new Set<number>();
before(async () => {
  s = await startTestStack({ P3S_HEARTBEAT_TIMEOUT: '3', P3S_REAPER_INTERVAL: '0.5' });
});
afterEach(async () => {
  for (const p of pilots) {
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGCONT');
    await p.stop('SIGKILL');
  }
  pilots = [];
  for (const g of groups) if ((groupMembers(g) ?? []).length) process.kill(-g, 'SIGKILL');
  groups.clear();
});
after(async () => {
  await s?.close();
});

const job = (id: string) => s.call('GET', `/jobs/${id}`).then((r) => r.body);

/** The process group of the payload of `jobId`, found by the P3S_JOB_UUID in its environment. */
function payloadGroup(jobId: string): number | undefined {
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (!readFileSync(`/proc/${e}/environ`, 'latin1').split('\0').includes(`P3S_JOB_UUID=${jobId}`))
        continue;
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return undefined;
}

/** Submits one job, starts a pilot, and waits until the payload's group holds `members` processes. */
async function running(payload: string, timeout: number, members: number, pilotArgs: string[] = []) {
  const r = await s.call('POST', '/jobs', {
    body: [{ name: 'victim', jobtype: 'chaos', payload, timeout, env: { P3S_EXECMODE: 'SHELL' } }],
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const id = r.body[0].id as string;
  const pilot = startPilot(s.url, s.pilotToken, ['--cycles', '0', ...pilotArgs]);
  pilots.push(pilot);
  const pgid = await waitFor(
    async () => {
      const g = (await job(id)).state === 'running' && payloadGroup(id);
      return g && (groupMembers(g) ?? []).length >= members && g;
    },
    { timeoutMs: 20_000, what: 'the payload running with its children' },
  );
  groups.add(pgid);
  return { id, pilot, pgid };
}

/** Waits until no live process is left in the group; returns how long that took. */
async function groupGone(pgid: number, timeoutMs: number, what: string): Promise<number> {
  const t0 = Date.now();
  await waitFor(() => (groupMembers(pgid) ?? []).length === 0, { timeoutMs, what, intervalMs: 10 });
  return Date.now() - t0;
}

/** From the tables: the job ended once, as pilotTO, and the job type's slot is back. */
async function endedAsPilotTO(id: string): Promise<void> {
  const done = await waitFor(async () => ((await job(id)).endedAt ? job(id) : undefined), {
    timeoutMs: 20_000,
    what: 'the reaper to end the job',
  });
  assert.equal(done.state, 'pilotTO');
  const types = (await s.call('GET', '/jobtypes')).body.jobtypes as { name: string; inFlight?: number }[];
  assert.equal(types.find((t) => t.name === 'chaos')?.inFlight ?? 0, 0, 'the cap slot came back');
}

describe('no payload outlives its pilot', () => {
  test('kill -9 of a pilot running `sleep 313` takes the payload’s whole group within seconds', async () => {
    const { id, pilot, pgid } = await running('sleep 313 & sleep 313', 3600, 3);
    const t0 = Date.now();
    process.kill(pilot.child.pid!, 'SIGKILL');
    const gone = await groupGone(pgid, 10_000, 'the payload group to go with its pilot');
    process.stdout.write(
      `# payload group gone ${Date.now() - t0} ms after the pilot's SIGKILL (${gone} ms)\n`,
    );
    assert.ok(Date.now() - t0 < 5000, `gone ${Date.now() - t0} ms after the SIGKILL`);
    await endedAsPilotTO(id);
  });

  test('a payload that ignores SIGTERM still goes, after the kill grace', async () => {
    const { id, pilot, pgid } = await running(`trap '' TERM; sleep 313 & sleep 313`, 3600, 3, [
      '--kill-grace',
      '1',
    ]);
    const t0 = Date.now();
    process.kill(pilot.child.pid!, 'SIGKILL');
    await groupGone(pgid, 10_000, 'the payload group to be SIGKILLed');
    const took = Date.now() - t0;
    process.stdout.write(`# TERM-proof payload gone ${took} ms after the pilot's SIGKILL (kill grace 1 s)\n`);
    assert.ok(took >= 900 && took < 5000, `gone ${took} ms after the SIGKILL`);
    await endedAsPilotTO(id);
  });

  test('the time limit holds while the pilot is stopped and cannot act', async () => {
    const { id, pilot, pgid } = await running('sleep 313 & sleep 313', 2, 3, ['--kill-grace', '1']);
    process.kill(pilot.child.pid!, 'SIGSTOP');
    const started = Date.parse((await job(id)).payloadStartedAt ?? (await job(id)).startedAt);
    await groupGone(pgid, 15_000, 'the guard to enforce the time limit');
    const after = (Date.now() - started) / 1000;
    process.stdout.write(
      `# stopped pilot: payload with a 2 s limit gone ${after.toFixed(1)} s after it started\n`,
    );
    assert.ok(after >= 2 && after < 8, `gone ${after} s after start (limit 2 s, kill grace 1 s)`);
    process.kill(pilot.child.pid!, 'SIGKILL');
    await endedAsPilotTO(id);
  });
});
