import { z } from 'zod';
import { Role } from '../../shared/core/auth/roles.ts';
import { createToken } from '../../shared/db/tokens.ts';
import { route } from '../../shared/http/route.ts';

const Body = z.strictObject({
  role: Role,
  name: z.string().trim().min(1).max(128).default('unnamed'),
  expiresAt: z.iso.datetime({ offset: true }).optional(),
  expiresInDays: z.number().positive().max(3650).optional(),
});

/** Creates a token; the response is the only time its secret is shown. */
export const handler = route({ access: 'admin', body: Body, status: 201 }, async ({ body }) =>
  createToken({
    role: body.role,
    name: body.name,
    expiresAt:
      body.expiresAt ??
      (body.expiresInDays ? new Date(Date.now() + body.expiresInDays * 86400_000).toISOString() : undefined),
  }),
);
