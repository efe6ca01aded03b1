import { z } from 'zod';

/** Most values one list filter takes (`?state=a,b,c`). */
const MAX_LIST_FILTER = 20;

/**
 * A query parameter that takes one value or a comma-separated list of them (`jobtype=a,b`),
 * each checked by `item`: the result is always a list. A list filter means "any of these".
 */
export const csvOf = <T extends z.ZodType<unknown, string>>(item: T) =>
  z
    .string()
    .transform((s) =>
      s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean),
    )
    .pipe(z.array(item).min(1, 'give at least one value').max(MAX_LIST_FILTER));
