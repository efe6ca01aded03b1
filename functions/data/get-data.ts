import { z } from 'zod';
import { DataId } from '../../shared/core/data/location.ts';
import { getData } from '../../shared/db/data.ts';
import { route } from '../../shared/http/route.ts';

/** One registered file with what its arrival triggered. */
export const handler = route({ access: 'viewer', path: z.object({ id: DataId }) }, async ({ path }) =>
  getData(path.id),
);
