import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { api, qs } from '../client.ts';
import { emit, FIELD_ORDER, keyValues, morePages, ordered, table } from '../output.ts';
import type { CliContext } from './context.ts';

const JOB_COLUMNS = [
  'id',
  'name',
  'jobtype',
  'state',
  'priority',
  'pilotId',
  'exitCode',
  'createdAt',
  'endedAt',
];

function readJobFile(file: string): unknown {
  const text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${file}: not JSON: ${(err as Error).message}`);
  }
}

export function registerJob(program: Command, ctx: CliContext): void {
  const job = program.command('job').description('jobs: submit, list, show, adjust, kill, delete');
  job
    .command('submit <file>')
    .description('submit a job file (original p3s job JSON: a list of jobs); - reads stdin')
    .option(
      '-f, --input <files>',
      'input file(s) for env.P3S_INPUT_FILE, comma separated: one job set per file (default: $P3S_INPUT_FILE)',
    )
    .option('-N, --count <n>', 'replicas of each job', Number)
    .option('--json', 'print only JSON (the array of created jobs)')
    .action(async (file: string, o: { input?: string; count?: number }) => {
      const parsed = readJobFile(file);
      const jobs = Array.isArray(parsed) ? parsed : [parsed];
      // As the original job.py: -f wins, else $P3S_INPUT_FILE of the submitting shell (one file).
      const fromEnv = o.input === undefined ? process.env.P3S_INPUT_FILE?.trim() || undefined : undefined;
      if (fromEnv) process.stderr.write(`p3s: P3S_INPUT_FILE from the environment: ${fromEnv}\n`);
      const inputs = fromEnv
        ? [fromEnv]
        : o.input
            ?.split(',')
            .map((s) => s.trim())
            .filter(Boolean);
      const body =
        inputs || o.count
          ? { jobs, inputFile: inputs && (inputs.length === 1 ? inputs[0] : inputs), count: o.count }
          : jobs;
      const created = await api<Record<string, unknown>[]>(ctx.target(), 'POST', '/jobs', body);
      emit(ctx.out(), created, () => table(created, ['id', 'name', 'jobtype', 'state', 'priority']));
    });
  job
    .command('list')
    .description('list jobs, newest first')
    .option('--state <states>', 'state(s), comma separated')
    .option('--type <jobtypes>', 'job type(s), comma separated')
    .option('--user <users>', 'user(s), comma separated')
    .option('--site <sites>', 'site(s), comma separated')
    .option('--pilot <id>')
    .option('--since <iso>', 'from this time')
    .option('--until <iso>', 'to this time')
    .option('--limit <n>', 'page size', '50')
    .option('--cursor <c>', 'next page (from a previous --json answer)')
    .option('--json', 'print only JSON')
    .action(async (o: Record<string, string | undefined>) => {
      const r = await api<{ jobs: Record<string, unknown>[]; nextCursor?: string; searchedBackTo?: string }>(
        ctx.target(),
        'GET',
        `/jobs${qs({ state: o.state, jobtype: o.type, user: o.user, site: o.site, pilot: o.pilot, since: o.since, until: o.until, limit: o.limit, cursor: o.cursor })}`,
      );
      emit(ctx.out(), r, () => table(r.jobs, JOB_COLUMNS) + morePages(r));
    });
  job
    .command('show <id>')
    .description('one job with all its fields, env and output tails')
    .option('--json', 'print only JSON')
    .action(async (id: string) => {
      const j = ordered(
        await api<Record<string, unknown>>(ctx.target(), 'GET', `/jobs/${encodeURIComponent(id)}`),
        FIELD_ORDER.job,
      );
      emit(ctx.out(), j, () => {
        const { stdoutTail, stderrTail, ...rest } = j;
        let s = keyValues(rest);
        // While the job runs, the tails are the ones its pilot sent with its last heartbeat.
        const kind = j.state === 'running' ? `live tail, as of ${String(j.tailAt ?? '?')}` : 'tail';
        if (stdoutTail) s += `\n--- stdout (${kind}) ---\n${String(stdoutTail)}`;
        if (stderrTail) s += `\n--- stderr (${kind}) ---\n${String(stderrTail)}`;
        return s;
      });
    });
  job
    .command('adjust <id>')
    .description('change a queued job: priority, hold or release')
    .option('-P, --priority <n>', 'new priority', Number)
    .option('--hold', 'take it out of the queue')
    .option('--release', 'put a held job back in the queue')
    .option('--json', 'print only JSON')
    .action(async (id: string, o: { priority?: number; hold?: boolean; release?: boolean }) => {
      const body: Record<string, unknown> = {};
      if (o.priority !== undefined) body.priority = o.priority;
      if (o.hold) body.hold = true;
      if (o.release) body.hold = false;
      const j = await api<Record<string, unknown>>(
        ctx.target(),
        'PATCH',
        `/jobs/${encodeURIComponent(id)}`,
        body,
      );
      emit(ctx.out(), j, () => keyValues(j));
    });
  job
    .command('kill <id>')
    .description('kill a job (a running one is killed by its pilot and ends killed)')
    .option('--json', 'print only JSON')
    .action(async (id: string) => {
      const j = await api<Record<string, unknown>>(
        ctx.target(),
        'POST',
        `/jobs/${encodeURIComponent(id)}/kill`,
      );
      emit(
        ctx.out(),
        j,
        () => `${id}: ${String(j.state)}${j.killRequested ? ' (kill requested from its pilot)' : ''}`,
      );
    });
  job
    .command('delete <id>')
    .description('delete a job record that is not in flight')
    .option('--json', 'print only JSON')
    .action(async (id: string) => {
      const r = await api<Record<string, unknown>>(ctx.target(), 'DELETE', `/jobs/${encodeURIComponent(id)}`);
      emit(ctx.out(), r, () => `deleted ${id}`);
    });
}

export function registerJobtype(program: Command, ctx: CliContext): void {
  const jt = program.command('jobtype').description('job types: caps, default priority, deadline');
  jt.command('list')
    .option('--json', 'print only JSON')
    .action(async () => {
      const r = await api<{ jobtypes: Record<string, unknown>[] }>(ctx.target(), 'GET', '/jobtypes');
      emit(ctx.out(), r.jobtypes, () =>
        table(r.jobtypes, ['name', 'limit', 'inFlight', 'priority', 'deadline', 'sampling']),
      );
    });
  jt.command('set <type>')
    .description('set a cap (--limit), default priority, deadline (s); "none" removes a setting')
    .option('-L, --limit <n>', 'cap on dispatched+running jobs (none = no cap)')
    .option('-P, --priority <n>', 'default priority')
    .option('--deadline <s>', 'seconds a job may stay queued before it is stale (none = forever)')
    .option('--sampling <f>', 'fraction of arriving files to process, 0–1')
    .option('--json', 'print only JSON')
    .action(async (type: string, o: Record<string, string | undefined>) => {
      const num = (v: string | undefined) => (v === undefined ? undefined : v === 'none' ? null : Number(v));
      const body = {
        limit: num(o.limit),
        priority: num(o.priority),
        deadline: num(o.deadline),
        sampling: num(o.sampling),
      };
      const r = await api<Record<string, unknown>>(
        ctx.target(),
        'PUT',
        `/jobtypes/${encodeURIComponent(type)}`,
        body,
      );
      emit(ctx.out(), r, () => keyValues(r));
    });
}

export function registerPilot(program: Command, ctx: CliContext): void {
  const pilot = program.command('pilot').description('pilots: list, show, kill, drain');
  pilot
    .command('list')
    .option('--state <states>', 'state(s), comma separated')
    .option('--site <sites>', 'site(s), comma separated')
    .option('--limit <n>', 'at most', '100')
    .option('--json', 'print only JSON')
    .action(async (o: Record<string, string | undefined>) => {
      const r = await api<{ pilots: Record<string, unknown>[] }>(
        ctx.target(),
        'GET',
        `/pilots${qs({ state: o.state, site: o.site, limit: o.limit })}`,
      );
      emit(ctx.out(), r.pilots, () =>
        table(r.pilots, ['id', 'host', 'site', 'state', 'jobId', 'jobcount', 'lastSeenAt', 'extra']),
      );
    });
  pilot
    .command('show <id>')
    .option('--json', 'print only JSON')
    .action(async (id: string) => {
      const p = ordered(
        await api<Record<string, unknown>>(ctx.target(), 'GET', `/pilots/${encodeURIComponent(id)}`),
        FIELD_ORDER.pilot,
      );
      emit(ctx.out(), p, () => keyValues(p));
    });
  for (const mode of ['kill', 'drain'] as const) {
    pilot
      .command(`${mode} [id]`)
      .description(
        mode === 'kill'
          ? 'kill pilots (their payloads are killed)'
          : 'drain pilots (finish the current payload, then stop)',
      )
      .option('-H, --host <host>', 'all pilots on this host')
      .option('-s, --site <site>', 'all pilots of this site')
      .option('--all', 'every live pilot')
      .option('--json', 'print only JSON')
      .action(async (id: string | undefined, o: { host?: string; site?: string; all?: boolean }) => {
        const r = await api<{ pilots: string[] }>(ctx.target(), 'POST', '/pilots/kill', {
          id,
          host: o.host,
          site: o.site,
          all: o.all || undefined,
          mode,
        });
        emit(
          ctx.out(),
          r,
          () => `${mode}: ${r.pilots.length} pilot(s)${r.pilots.length ? `\n${r.pilots.join('\n')}` : ''}`,
        );
      });
  }
}
