/**
 * The README's walk-through, run as written: every command of its marked code blocks
 * (`<!-- walkthrough -->` before a block: one command after another, each must succeed;
 * `<!-- walkthrough:background -->`: long-running, started in the background — `npm start`,
 * then the pilots), in order, through `/bin/sh`, from the repository root. The commands are
 * read from README.md, never copied here. Only the environment isolates the run: its own
 * P3S_HOME, P3S_PORT and P3S_SERVER (the defaults are the user's own stack). Then the
 * outcome is checked in the API and in the monitor (real Chromium); screenshots go to
 * test-output/screenshots/walkthrough/.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium } from 'playwright-core';
import { repoRoot } from '../../localstack/runtime/serverless-config.ts';
import { freePorts } from '../helpers/ports.ts';
import { waitFor } from '../helpers/stack.ts';

const CHROMIUM = process.env.P3S_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = join(repoRoot, 'test-output', 'screenshots', 'walkthrough');
const README = join(repoRoot, 'README.md');

interface Block {
  background: boolean;
  commands: string[];
}

/** The walk-through's marked blocks, each command joined across `\` line continuations. */
function walkthroughBlocks(markdown: string): Block[] {
  const out: Block[] = [];
  const re = /<!-- walkthrough(:background)? -->\s*\n```sh\n([\s\S]*?)\n```/g;
  for (const m of markdown.matchAll(re)) {
    const commands: string[] = [];
    let cur = '';
    for (const line of m[2]!.split('\n')) {
      cur += line;
      if (cur.endsWith('\\')) {
        cur = `${cur.slice(0, -1)} `;
        continue;
      }
      if (cur.trim() && !cur.trim().startsWith('#')) commands.push(cur);
      cur = '';
    }
    out.push({ background: Boolean(m[1]), commands });
  }
  return out;
}

let home: string;
let env: NodeJS.ProcessEnv;
let server: string;
const background: { cmd: string; child: ChildProcess; out: () => string }[] = [];
const ran: { cmd: string; out: string }[] = [];

function startBackground(cmd: string) {
  // Its own process group, so the whole tree (npm → node → java; the pilots' children) is stopped at the end.
  const child = spawn('/bin/sh', ['-c', cmd], {
    cwd: repoRoot,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => {
    out += d;
  });
  child.stderr!.on('data', (d) => {
    out += d;
  });
  background.push({ cmd, child, out: () => out });
}

function run(cmd: string): string {
  try {
    const out = execFileSync('/bin/sh', ['-c', cmd], {
      cwd: repoRoot,
      env,
      encoding: 'utf8',
      stdio: 'pipe',
      timeout: 120_000,
    });
    ran.push({ cmd, out });
    return out;
  } catch (err) {
    const e = err as { status?: number; stdout?: string; stderr?: string };
    throw new Error(`\`${cmd}\` failed (exit ${e.status}):\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

const adminToken = () => readFileSync(join(home, 'admin.token'), 'utf8').trim();

async function api(path: string): Promise<any> {
  const r = await fetch(`${server}${path}`, { headers: { authorization: `Bearer ${adminToken()}` } });
  assert.equal(r.status, 200, `${path}: ${r.status}`);
  return r.json();
}

before(() => {
  mkdirSync(SHOTS, { recursive: true });
  for (const f of ['dist/p3s.mjs', 'dist/p3s-pilot.mjs'])
    assert.ok(existsSync(join(repoRoot, f)), `${f} is missing: npm run build`);
});

after(async () => {
  for (const b of background.reverse()) {
    if (b.child.exitCode !== null || b.child.signalCode !== null) continue;
    const exited = new Promise((r) => b.child.once('exit', r));
    try {
      process.kill(-b.child.pid!, 'SIGTERM');
    } catch {}
    const t = setTimeout(() => {
      try {
        process.kill(-b.child.pid!, 'SIGKILL');
      } catch {}
    }, 15_000);
    await exited;
    clearTimeout(t);
  }
  if (home) rmSync(home, { recursive: true, force: true });
});

describe('the README walk-through', () => {
  test('every file the README names under examples/ exists', () => {
    const text = readFileSync(README, 'utf8');
    const named = [
      ...new Set([...text.matchAll(/(?<![\w/-])examples\/[\w./-]+/g)].map((m) => m[0].replace(/[.)]+$/, ''))),
    ];
    assert.ok(named.length >= 8, named.join(' '));
    for (const f of named)
      assert.ok(existsSync(join(repoRoot, f)), `README names ${f}, which is not in the repository`);
  });

  test('runs as written: from npm start to a data-triggered workflow in the monitor', {
    timeout: 600_000,
  }, async () => {
    const blocks = walkthroughBlocks(readFileSync(README, 'utf8'));
    assert.ok(blocks.length >= 6, `walk-through blocks found: ${blocks.length}`);
    assert.deepEqual(blocks[0]!.commands, ['npm start'], 'it starts with npm start');

    home = mkdtempSync(join(tmpdir(), 'p3s-walk-'));
    // `npm start` puts the local S3 on the next port.
    const port = await freePorts(2);
    server = `http://127.0.0.1:${port}`;
    env = { ...process.env, P3S_HOME: home, P3S_PORT: String(port), P3S_SERVER: server };
    for (const k of ['P3S_TOKEN', 'P3S_TEST_DYNAMODB_ENDPOINT', 'P3S_TABLE_PREFIX', 'P3S_SITE', 'P3S_JOBLOG'])
      delete env[k];
    // The team's worktrees link node_modules to another checkout, whose .bin/p3s would run that
    // checkout's CLI; then `npx p3s …` is pointed at this checkout's bins, which is what npx runs
    // in any normal checkout (npm ci links node_modules/.bin/p3s to ./scripts/bin/p3s.mjs).
    const bin = join(repoRoot, 'node_modules', '.bin', 'p3s');
    if (!existsSync(bin) || realpathSync(bin) !== join(repoRoot, 'scripts', 'bin', 'p3s.mjs')) {
      const shim = mkdtempSync(join(tmpdir(), 'p3s-npx-'));
      const npx = execFileSync('/bin/sh', ['-c', 'command -v npx'], { encoding: 'utf8' }).trim();
      writeFileSync(
        join(shim, 'npx'),
        `#!/bin/sh\ncase "$1" in\n  p3s) shift; exec node "${repoRoot}/scripts/bin/p3s.mjs" "$@";;\n  p3s-pilot) shift; exec node "${repoRoot}/pilot/bin/p3s-pilot.mjs" "$@";;\nesac\nexec "${npx}" "$@"\n`,
      );
      chmodSync(join(shim, 'npx'), 0o755);
      env.PATH = `${shim}:${env.PATH}`;
    }

    for (const b of blocks) {
      for (const cmd of b.commands) {
        if (!b.background) {
          run(cmd);
          continue;
        }
        startBackground(cmd);
        if (cmd === 'npm start') {
          // Up, or exited (which fails the test at once, with what it printed).
          const up = await waitFor(
            async () => {
              const dead = background.find((x) => x.child.exitCode !== null);
              if (dead) return { exited: dead.out() };
              return (await fetch(`${server}/healthz`).catch(() => undefined))?.status === 200 && {};
            },
            { what: 'npm start: GET /healthz answers 200', timeoutMs: 180_000, intervalMs: 250 },
          );
          if (up.exited !== undefined) throw new Error(`npm start exited:\n${up.exited}`);
        } else if (cmd.includes('p3s-pilot')) {
          const want = Number(/--count (\d+)/.exec(cmd)?.[1] ?? 1);
          await waitFor(
            async () => {
              const { pilots } = await api('/pilots?state=active,waiting');
              return pilots.length >= want;
            },
            { what: `${want} pilots registered`, timeoutMs: 60_000, intervalMs: 250 },
          );
        }
      }
    }

    // What the walk-through says happens, happened.
    const link = /monitor sign-in (http:\/\/\S+\/monitor\/signin#token=\S+)/.exec(background[0]!.out())?.[1];
    assert.ok(link, `npm start printed the sign-in link:\n${background[0]!.out()}`);
    const listed = ran.find((r) => r.cmd.includes('job list'))!.out;
    assert.match(listed, /hello/);
    assert.match(listed, /broken-dqm/);
    const wfs = await waitFor(
      async () => {
        const { workflows } = await api('/workflows');
        const byRule = workflows.find((w: any) => w.rule === 'hitcount');
        const byHand = workflows.find((w: any) => w.name === 'by-hand');
        return byRule?.state === 'finished' && byHand?.state === 'finished' ? { byRule, byHand } : undefined;
      },
      { what: 'both hitcount workflows finished', timeoutMs: 120_000, intervalMs: 500 },
    );
    assert.equal(wfs.byRule.name, 'hitcount:run0001.txt');
    assert.equal(wfs.byRule.inputFile, join(repoRoot, 'examples', 'data', 'run0001.txt'));
    const detail = await api(`/workflows/${wfs.byRule.id}`);
    const summaryPath = detail.files.find((f: any) => f.datatag === 'SUMMARY').path;
    assert.equal(readFileSync(summaryPath, 'utf8'), 'HIT lines: 3 hits\n', 'the workflow did its work');
    const broken = (await api('/jobs?jobtype=broken')).jobs[0];
    await waitFor(async () => (await api(`/jobs/${broken.id}`)).state === 'failed', {
      what: 'broken failed',
      timeoutMs: 60_000,
    });

    // The monitor, signed in with the printed link.
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
      await page.goto(link!);
      await page.waitForURL(`${server}/`);
      await page.waitForSelector('[data-part="alerts"] li[data-code="failures"][data-subject="broken"]', {
        timeout: 30_000,
      });
      assert.equal(await page.textContent('[data-tile="pilots"] .value'), '2');
      await page.screenshot({ path: join(SHOTS, '01-dashboard-1366x768.png') });
      await page.goto(`${server}/monitor/workflows`);
      const row = page.locator('main table tbody tr', { hasText: 'hitcount:run0001.txt' });
      assert.match((await row.textContent()) ?? '', /3 of 3 finished/);
      await page.screenshot({ path: join(SHOTS, '02-workflows-1366x768.png') });
      await row.locator('a', { hasText: 'hitcount:run0001.txt' }).click();
      await page.waitForSelector('#files table tbody tr');
      const tags = await page.$$eval('#files table tbody tr td:nth-child(2)', (tds: any[]) =>
        tds.map((t) => t.textContent.trim()),
      );
      assert.deepEqual(tags.sort(), ['HITS', 'SUMMARY']);
      await page.screenshot({ path: join(SHOTS, '03-workflow-1366x768.png'), fullPage: true });
      await page.goto(`${server}/monitor/rules/hitcount`);
      assert.match((await page.textContent('#hits')) ?? '', /run0001\.txt/);
      await page.goto(`${server}/monitor/sites`);
      assert.match((await page.textContent('main table tbody')) ?? '', /local\s*2/);
    } finally {
      await browser.close();
    }
  });
});
