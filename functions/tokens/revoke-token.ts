import { z } from 'zod';
import { revokeToken } from '../../shared/db/tokens.ts';
import { route } from '../../shared/http/route.ts';

const Path = z.object({ id: z.string().regex(/^[A-Za-z0-9]{12}$/, 'not a token id') });

export const handler = route({ access: 'admin', path: Path }, async ({ path }) => revokeToken(path.id));
