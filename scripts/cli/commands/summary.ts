import type { Command } from 'commander';
import { api } from '../client.ts';
import { emit, table } from '../output.ts';
import type { CliContext } from './context.ts';

interface Summary {
  generatedAt: string;
  jobs: Record<string, number>;
  pilots: Record<string, number>;
  workflows?: Record<string, number>;
  data?: Record<string, number>;
  jobtypes: Record<string, unknown>[];
  latency: Record<string, { jobs: number; p50Ms: number | null; p95Ms: number | null; p99Ms: number | null }>;
  throughput: { minute: string; started: number; ended: number }[];
}

const counts = (title: string, c: Record<string, number> | undefined) => {
  const entries = Object.entries(c ?? {}).filter(([, n]) => n !== 0);
  const total = entries.reduce((a, [, n]) => a + n, 0);
  return `${title.padEnd(10)} total ${total}${entries.length ? `  (${entries.map(([k, n]) => `${k} ${n}`).join(', ')})` : ''}`;
};

export function registerSummary(program: Command, ctx: CliContext): void {
  program
    .command('summary')
    .description('counts per state for pilots and jobs, per job type, dispatch latency')
    .option('--json', 'print only JSON')
    .action(async () => {
      const s = await api<Summary>(ctx.target(), 'GET', '/summary');
      emit(ctx.out(), s, () => {
        const lat = Object.entries(s.latency)
          .map(
            ([w, l]) =>
              `  ${w}: ${l.jobs} jobs, p50 ≤ ${l.p50Ms ?? '-'} ms, p95 ≤ ${l.p95Ms ?? '-'} ms, p99 ≤ ${l.p99Ms ?? '-'} ms`,
          )
          .join('\n');
        const lastMin = s.throughput
          .slice(-5)
          .map((t) => `${t.minute.slice(11)} ${t.ended}`)
          .join('  ');
        return [
          counts('pilots', s.pilots),
          counts('jobs', s.jobs),
          ...(s.workflows && Object.keys(s.workflows).length ? [counts('workflows', s.workflows)] : []),
          ...(s.data && Object.keys(s.data).length ? [counts('data', s.data)] : []),
          '',
          'job types:',
          table(s.jobtypes, [
            'name',
            'queued',
            'inFlight',
            'limit',
            'priority',
            'deadline',
            'stale',
            'dropped',
          ]),
          '',
          'dispatch latency (defined → payload started):',
          lat,
          `jobs ended per minute (last 5): ${lastMin}`,
        ].join('\n');
      });
    });
}
