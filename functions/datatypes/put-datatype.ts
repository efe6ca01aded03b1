import { Datatype } from '../../shared/core/data/datatype.ts';
import { putDatatype } from '../../shared/db/datatypes.ts';
import { route } from '../../shared/http/route.ts';

/** Creates or replaces a datatype from the original JSON `{"name","ext","comment"}` (upsert by name). */
export const handler = route({ access: 'submitter', body: Datatype }, async ({ body, caller }) =>
  putDatatype(body, caller.name),
);
