import { z } from 'zod';
import { SiteName } from '../job/job.ts';

/** Pilot states (docs/design.md §3). `waiting` is the original's "no jobs". */
export const PilotState = z.enum([
  'active',
  'waiting',
  'dispatched',
  'running',
  'stopped',
  'timeout',
  'killed',
]);
export type PilotState = z.infer<typeof PilotState>;
export const PILOT_ENDED: ReadonlySet<PilotState> = new Set(['stopped', 'timeout', 'killed']);

export const PilotRegistration = z.strictObject({
  id: z.uuid(),
  key: z.string().min(32).max(128),
  host: z.string().trim().min(1).max(255),
  site: SiteName.optional(),
  pid: z.number().int().nonnegative().optional(),
  extra: z.string().max(128).optional(),
  version: z.string().max(64).optional(),
  resources: z
    .strictObject({
      cpus: z.number().positive().max(4096).optional(),
      memoryMb: z.number().positive().optional(),
    })
    .optional(),
});
export type PilotRegistration = z.infer<typeof PilotRegistration>;

const ReportEvent = z.enum([
  'jobstart',
  'heartbeat',
  'jobstop',
  'timelimit',
  'nonstarter',
  'killed',
  'stopped',
]);

const TAIL_MAX = 8192;
/** A heartbeat's output tails are smaller (they are sent every beat while the job runs). */
const LIVE_TAIL_MAX = 2048;
export const PilotReport = z
  .strictObject({
    event: ReportEvent,
    jobId: z.uuid().optional(),
    pid: z.number().int().nonnegative().optional(),
    exitCode: z.number().int().min(-255).max(255).nullable().optional(),
    signal: z
      .string()
      .regex(/^SIG[A-Z0-9]+$/, 'must be a signal name like SIGKILL')
      .optional(),
    stdoutTail: z.string().max(TAIL_MAX).optional(),
    stderrTail: z.string().max(TAIL_MAX).optional(),
    message: z.string().max(1024).optional(),
    payloadStartedAt: z.iso.datetime().optional(),
  })
  .superRefine((r, ctx) => {
    if (r.event !== 'heartbeat') return;
    for (const k of ['stdoutTail', 'stderrTail'] as const) {
      if ((r[k]?.length ?? 0) > LIVE_TAIL_MAX)
        ctx.addIssue({
          code: 'custom',
          path: [k],
          message: `at most ${LIVE_TAIL_MAX} characters in a heartbeat`,
        });
    }
    if ((r.stdoutTail !== undefined || r.stderrTail !== undefined) && !r.jobId)
      ctx.addIssue({ code: 'custom', path: ['jobId'], message: 'required with output tails' });
  });
export type PilotReport = z.infer<typeof PilotReport>;

/** What the server asks of a pilot in a report answer. */
export type PilotAction = 'none' | 'killjob' | 'drain' | 'kill';

export interface Pilot {
  id: string;
  host: string;
  site?: string;
  pid?: number;
  extra?: string;
  version?: string;
  resources?: { cpus?: number; memoryMb?: number };
  state: PilotState;
  jobId?: string;
  /** Type of the job it holds. */
  jobtype?: string;
  jobcount: number;
  drain?: boolean;
  kill?: boolean;
  registeredAt: string;
  lastSeenAt: string;
  idleSince?: string;
  stateAt: string;
  endedAt?: string;
}
