import { DataListQuery } from '../../shared/core/data/data.ts';
import { dataId } from '../../shared/core/data/location.ts';
import { NotFoundError } from '../../shared/core/errors.ts';
import { getData, listData } from '../../shared/db/data.ts';
import { route } from '../../shared/http/route.ts';

/** Registered files, newest first; `?location=` looks one up. */
export const handler = route({ access: 'viewer', query: DataListQuery }, async ({ query }) => {
  if (!query.location) return listData(query);
  const id = dataId(query.location.location);
  try {
    return { data: [await getData(id)] };
  } catch (err) {
    if (err instanceof NotFoundError) return { data: [] };
    throw err;
  }
});
