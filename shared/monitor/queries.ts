import { z } from 'zod';
import { WorkflowState } from '../core/dag/advance.ts';
import { DataState } from '../core/data/data.ts';
import { DatatypeName } from '../core/data/datatype.ts';
import { Source } from '../core/data/location.ts';
import { ListQuery } from '../core/job/api.ts';
import { type JobState, SiteName } from '../core/job/job.ts';
import { PilotState } from '../core/pilot/pilot.ts';
import type { JobFilter } from '../db/jobs.ts';

/**
 * Query strings of the monitor pages. Every filter lives in the URL (so any view can be
 * bookmarked or pasted into a shift log); an empty form field means "no filter".
 */

const blankToUndefined = (v: unknown) => (v === '' ? undefined : v);
const opt = <T extends z.ZodType>(s: T) => z.preprocess(blankToUndefined, s.optional());

/** Relative time windows: stable in meaning ("the last hour") however late the URL is opened. */
export const WINDOWS = {
  '15m': 15 * 60_000,
  '1h': 3_600_000,
  '6h': 6 * 3_600_000,
  '24h': 86_400_000,
  '7d': 7 * 86_400_000,
} as const;
export type WindowKey = keyof typeof WINDOWS;

/** ISO 8601 date or date-time; without an offset it is UTC (not the server's zone). */
const Instant = z
  .string()
  .trim()
  .regex(
    /^\d{4}-\d\d-\d\d([T ]\d\d:\d\d(:\d\d(\.\d{1,3})?)?(Z|[+-]\d\d:?\d\d)?)?$/,
    'must be an ISO 8601 date or time, e.g. 2026-01-31T18:00Z',
  )
  .transform((s, ctx) => {
    let t = s.replace(' ', 'T');
    if (t.length === 10) t += 'T00:00';
    if (!/(Z|[+-]\d\d:?\d\d)$/.test(t)) t += 'Z';
    const ms = Date.parse(t);
    if (Number.isNaN(ms)) {
      ctx.addIssue({ code: 'custom', message: 'not a valid date or time' });
      return z.NEVER;
    }
    return new Date(ms).toISOString();
  });

const Sort = z
  .string()
  .max(40)
  .regex(/^-?[A-Za-z]+$/, 'must be a column name, optionally prefixed with -');
const PerPage = (def: number) =>
  z.preprocess(blankToUndefined, z.coerce.number().int().min(1).max(500).default(def));
const PageNo = z.preprocess(blankToUndefined, z.coerce.number().int().min(1).max(100_000).default(1));

export const JobsQuery = z.object({
  state: opt(ListQuery.shape.state.unwrap()),
  jobtype: opt(ListQuery.shape.jobtype.unwrap()),
  user: opt(z.string().trim().max(64)),
  site: opt(ListQuery.shape.site.unwrap()),
  window: opt(z.enum(Object.keys(WINDOWS) as [WindowKey, ...WindowKey[]])),
  since: opt(Instant),
  until: opt(Instant),
  limit: PerPage(50),
  cursor: opt(z.string().max(2048)),
  sort: opt(Sort),
});
export type JobsQuery = z.infer<typeof JobsQuery>;

/** The repository filter of a jobs page: `window` wins over `since`. */
export function jobFilter(q: JobsQuery, nowMs: number): JobFilter {
  return {
    state: q.state as JobState[] | undefined,
    jobtype: q.jobtype,
    user: q.user,
    site: q.site,
    since: q.window ? new Date(nowMs - WINDOWS[q.window]).toISOString() : q.since,
    until: q.window ? undefined : q.until,
    limit: q.limit,
    cursor: q.cursor,
  };
}

/** The URL parameters of a jobs page, as strings, for links that keep the filters. */
export function jobsParams(q: JobsQuery): Record<string, string | undefined> {
  return {
    state: q.state?.join(','),
    jobtype: q.jobtype?.join(','),
    user: q.user,
    site: q.site?.join(','),
    window: q.window,
    since: q.window ? undefined : q.since,
    until: q.window ? undefined : q.until,
    limit: q.limit === 50 ? undefined : String(q.limit),
    sort: q.sort,
  };
}

export const PilotsQuery = z.object({
  state: opt(PilotState),
  site: opt(SiteName),
  host: opt(z.string().trim().max(255)),
  limit: PerPage(100),
  page: PageNo,
  sort: opt(Sort),
});
export type PilotsQuery = z.infer<typeof PilotsQuery>;

export const PilotPageQuery = z.object({ cursor: opt(z.string().max(2048)), sort: opt(Sort) });

export const JobtypesQuery = z.object({
  name: opt(z.string().trim().max(64)),
  atcap: opt(z.enum(['1'])),
  limit: PerPage(100),
  page: PageNo,
  sort: opt(Sort),
});
export type JobtypesQuery = z.infer<typeof JobtypesQuery>;

export const WorkflowsQuery = z.object({
  state: opt(WorkflowState),
  user: opt(z.string().trim().max(64)),
  limit: PerPage(50),
  cursor: opt(z.string().max(2048)),
  sort: opt(Sort),
});
export type WorkflowsQuery = z.infer<typeof WorkflowsQuery>;

export const DataQuery = z.object({
  state: opt(DataState),
  source: opt(Source),
  datatype: opt(DatatypeName),
  name: opt(z.string().trim().max(1024)),
  window: opt(z.enum(Object.keys(WINDOWS) as [WindowKey, ...WindowKey[]])),
  limit: PerPage(50),
  cursor: opt(z.string().max(2048)),
  sort: opt(Sort),
});
export type DataQuery = z.infer<typeof DataQuery>;

/** The URL parameters of a data page, for links that keep the filters. */
export function dataParams(q: DataQuery): Record<string, string | undefined> {
  return {
    state: q.state,
    source: q.source,
    datatype: q.datatype,
    name: q.name,
    window: q.window,
    limit: q.limit === 50 ? undefined : String(q.limit),
    sort: q.sort,
  };
}

export const REFRESH_CHOICES = [0, 1, 2, 5, 10, 30, 60] as const;
export const DashboardQuery = z.object({
  refresh: z.preprocess(
    blankToUndefined,
    z.coerce
      .number()
      .refine(
        (n) => (REFRESH_CHOICES as readonly number[]).includes(n),
        `must be one of ${REFRESH_CHOICES.join(', ')}`,
      )
      .default(5),
  ),
});

export const LiveQuery = z.object({ trend: opt(z.string().max(4096)) });
export const IdPath = z.object({ id: z.string().min(1).max(128) });
