import { z } from 'zod';
import { csvOf } from '../util/csv.ts';
import {
  JobState,
  JobSubmission,
  JobtypeName,
  MAX_JOBS_PER_SUBMIT,
  PRIORITY_MAX,
  PRIORITY_MIN,
  SiteName,
} from './job.ts';

/**
 * `POST /jobs` body: the original job file (a JSON list of jobs), or an object with the list and
 * the CLI's options — `inputFile` (`-f`, sets env.P3S_INPUT_FILE; one file per job when a list
 * is given: N files × each template) and `count` (`-N` replicas).
 */
export const SubmitBody = z.union([
  z.array(JobSubmission).min(1).max(MAX_JOBS_PER_SUBMIT),
  z.strictObject({
    jobs: z.array(JobSubmission).min(1).max(MAX_JOBS_PER_SUBMIT),
    inputFile: z
      .union([
        z.string().min(1).max(1024),
        z.array(z.string().min(1).max(1024)).min(1).max(MAX_JOBS_PER_SUBMIT),
      ])
      .optional(),
    count: z.number().int().min(1).max(MAX_JOBS_PER_SUBMIT).optional(),
  }),
]);
export type SubmitBody = z.infer<typeof SubmitBody>;

/** Expands templates × input files × replicas into the concrete list, in a stable order. */
export function expandSubmission(body: SubmitBody): {
  jobs: JobSubmission[];
  inputFiles: (string | undefined)[];
} {
  const b = Array.isArray(body) ? { jobs: body } : body;
  const files =
    b.inputFile === undefined ? [undefined] : Array.isArray(b.inputFile) ? b.inputFile : [b.inputFile];
  const count = 'count' in b && b.count ? b.count : 1;
  const jobs: JobSubmission[] = [];
  const inputFiles: (string | undefined)[] = [];
  for (const file of files) {
    for (const t of b.jobs) {
      for (let i = 0; i < count; i++) {
        jobs.push(t);
        inputFiles.push(file);
      }
    }
  }
  if (jobs.length > MAX_JOBS_PER_SUBMIT) {
    throw new z.ZodError([
      {
        code: 'custom',
        path: ['jobs'],
        message: `expands to ${jobs.length} jobs; at most ${MAX_JOBS_PER_SUBMIT} per submit`,
        input: undefined,
      },
    ]);
  }
  return { jobs, inputFiles };
}

const csvStates = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean),
  )
  .pipe(z.array(JobState).min(1));

export const ListQuery = z.strictObject({
  state: csvStates.optional(),
  jobtype: csvOf(JobtypeName).optional(),
  user: csvOf(z.string().max(64)).optional(),
  site: csvOf(SiteName).optional(),
  pilot: z.uuid().optional(),
  workflow: z.string().max(64).optional(),
  since: z.iso.datetime({ offset: true }).optional(),
  until: z.iso.datetime({ offset: true }).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(2048).optional(),
});

export const AdjustBody = z
  .strictObject({
    priority: z.number().int().min(PRIORITY_MIN).max(PRIORITY_MAX).optional(),
    hold: z.boolean().optional(),
  })
  .refine((b) => b.priority !== undefined || b.hold !== undefined, 'give priority and/or hold');

export const JobId = z.object({ id: z.uuid('not a job id') });
