import { listTokens } from '../../shared/db/tokens.ts';
import { route } from '../../shared/http/route.ts';

export const handler = route({ access: 'admin' }, async () => ({ tokens: await listTokens() }));
