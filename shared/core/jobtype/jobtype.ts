import { z } from 'zod';
import { PRIORITY_MAX, PRIORITY_MIN } from '../job/job.ts';

/** Settable fields of a job type. `limit` is the cap on dispatched+running jobs (null = no cap). */
export const JobtypeSettings = z
  .strictObject({
    limit: z.number().int().min(0).max(1_000_000).nullable().optional(),
    priority: z.number().int().min(PRIORITY_MIN).max(PRIORITY_MAX).optional(),
    deadline: z
      .number()
      .int()
      .min(0)
      .max(30 * 86400)
      .nullable()
      .optional(),
    sampling: z.number().min(0).max(1).nullable().optional(),
  })
  .refine((s) => Object.keys(s).length > 0, 'give at least one of limit, priority, deadline, sampling');
export type JobtypeSettings = z.infer<typeof JobtypeSettings>;

export interface Jobtype {
  name: string;
  /** Cap on in-flight (dispatched + running) jobs; absent = unlimited. */
  limit?: number;
  /** Default priority for jobs submitted without one. */
  priority?: number;
  /** Seconds a job may stay queued before it is `stale` (absent = forever). */
  deadline?: number;
  sampling?: number;
  /** Jobs of this type now dispatched or running; kept by the claim/end transactions. */
  inFlight: number;
  /** Highest inFlight ever reached (evidence that the cap held). */
  maxInFlight?: number;
  /**
   * Its jobs queue in partitions of their own (set with the first `limit`, and kept: see
   * queuePartition in shared/core/job/job.ts and docs/matching.md).
   */
  ownQueue?: boolean;
  /** Queued jobs may still sit in the shared partitions (a limit was just set); the reaper moves them. */
  migrating?: boolean;
}

/** Free cap slots of a type: Infinity without a limit. */
export function freeSlots(t: Pick<Jobtype, 'limit' | 'inFlight'>): number {
  return t.limit === undefined || t.limit === null
    ? Number.POSITIVE_INFINITY
    : Math.max(0, t.limit - (t.inFlight ?? 0));
}
