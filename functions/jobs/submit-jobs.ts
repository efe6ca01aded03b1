import { expandSubmission, SubmitBody } from '../../shared/core/job/api.ts';
import { createJobs } from '../../shared/db/jobs.ts';
import { route } from '../../shared/http/route.ts';

/** Submits a list of jobs in the original job JSON; answers with the created jobs. */
export const handler = route(
  { access: 'submitter', body: SubmitBody, maxBody: 1024 * 1024, status: 201 },
  async ({ body, caller }) => {
    const { jobs, inputFiles } = expandSubmission(body);
    const byFile = new Map<string | undefined, typeof jobs>();
    inputFiles.forEach((f, i) => {
      byFile.set(f, [...(byFile.get(f) ?? []), jobs[i]!]);
    });
    const created = [];
    for (const [inputFile, subs] of byFile)
      created.push(...(await createJobs(subs, { user: caller.name, inputFile })));
    return created;
  },
);
