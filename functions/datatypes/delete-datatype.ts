import { z } from 'zod';
import { DatatypeName } from '../../shared/core/data/datatype.ts';
import { deleteDatatype } from '../../shared/db/datatypes.ts';
import { route } from '../../shared/http/route.ts';

export const handler = route(
  { access: 'submitter', path: z.object({ name: DatatypeName }) },
  async ({ path }) => {
    await deleteDatatype(path.name);
    return { deleted: path.name };
  },
);
