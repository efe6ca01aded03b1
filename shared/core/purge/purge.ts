import { z } from 'zod';
import { DurationInput } from '../data/units.ts';
import { ValidationError } from '../errors.ts';

/**
 * Bulk purge (the original's `purge.py`, with an age): ended jobs, ended workflows with their
 * jobs, ended pilots and registered files older than a cutoff. The server works in bounded
 * pages: each call examines at most `limit` items and answers a cursor to continue with, so a
 * purge of millions of items is many short calls (and the CLI can show progress).
 */

const PURGE_KINDS = ['jobs', 'workflows', 'pilots', 'data'] as const;
type PurgeKind = (typeof PURGE_KINDS)[number];

/** Items examined per call by default, and at most. */
const PURGE_PAGE = 200;
const PURGE_PAGE_MAX = 1000;

export const PurgeBody = z.strictObject({
  /** Age: items that ended (files: were registered) longer ago than this are removed. */
  olderThan: DurationInput,
  /** What to purge (default: all four). */
  what: z.array(z.enum(PURGE_KINDS)).min(1).max(4).optional(),
  /** Count what would be removed, remove nothing. */
  dryRun: z.boolean().default(false),
  limit: z.number().int().min(1).max(PURGE_PAGE_MAX).default(PURGE_PAGE),
  /** From the previous answer: the purge goes on where it stopped, with the same cutoff. */
  cursor: z.string().max(4096).optional(),
});
export type PurgeBody = z.infer<typeof PurgeBody>;

/** Where a purge stands: its cutoff and kinds (fixed by the first call), phase, and start key. */
export const PurgeCursor = z.strictObject({
  cutoff: z.iso.datetime(),
  what: z.array(z.enum(PURGE_KINDS)).min(1).max(4),
  /** Index into `what`. */
  phase: z.number().int().min(0).max(3),
  /** Within the jobs phase: index into the ended job states. */
  sub: z.number().int().min(0).max(20),
  /** DynamoDB's start key (string or number attributes only). */
  key: z.record(z.string().max(64), z.union([z.string().max(1024), z.number()])).optional(),
});
export type PurgeCursor = z.infer<typeof PurgeCursor>;

const BAD = 'body.cursor: not a cursor returned by this API';

export const encodePurgeCursor = (c: PurgeCursor): string =>
  Buffer.from(JSON.stringify(c)).toString('base64url');

export function decodePurgeCursor(s: string, nowMs: number): PurgeCursor {
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
  } catch {
    throw new ValidationError(BAD);
  }
  const r = PurgeCursor.safeParse(raw);
  if (!r.success || Date.parse(r.data.cutoff) > nowMs || r.data.phase >= r.data.what.length)
    throw new ValidationError(BAD);
  return r.data;
}

/** The start of a purge: its cutoff is `olderThan` before now, kinds in the fixed order. */
export function firstCursor(b: Pick<PurgeBody, 'olderThan' | 'what'>, nowMs: number): PurgeCursor {
  const what = PURGE_KINDS.filter((k) => !b.what || b.what.includes(k));
  return { cutoff: new Date(nowMs - b.olderThan * 1000).toISOString(), what, phase: 0, sub: 0 };
}

export type PurgeCounts = Record<PurgeKind, number>;
export const zeroCounts = (): PurgeCounts => ({ jobs: 0, workflows: 0, pilots: 0, data: 0 });

/** One call's answer. `cursor` is absent when the purge is complete. */
export interface PurgePage {
  dryRun: boolean;
  cutoff: string;
  /** Removed (or, in a dry run, would be removed) by this call. */
  removed: PurgeCounts;
  /** Ended workflows older than the cutoff kept because a job of theirs is not (still in flight, or newer). */
  kept: { workflows: number };
  /** Items this call examined. */
  examined: number;
  /** The kind the purge is at (where the cursor resumes). */
  at?: PurgeKind;
  cursor?: string;
}
