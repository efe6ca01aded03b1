import { z } from 'zod';

/**
 * Roles, from least to most privileged for people; `pilot` is a role of its own that can
 * only act as the pilot it registered (see docs/security in README).
 */
export const Role = z.enum(['viewer', 'submitter', 'operator', 'admin', 'pilot']);
export type Role = z.infer<typeof Role>;

/** What a route demands: a role, or `public` (health check only). */
export type Access = Role | 'public';

const rank: Record<Exclude<Role, 'pilot'>, number> = { viewer: 1, submitter: 2, operator: 3, admin: 4 };

/** Whether a caller with `role` may use a route that demands `need`. */
export function allows(role: Role, need: Access): boolean {
  if (need === 'public') return true;
  if (need === 'pilot') return role === 'pilot' || role === 'admin';
  if (role === 'pilot') return false;
  return rank[role] >= rank[need];
}

/** Who is calling, as established by the auth middleware. */
export interface Caller {
  tokenId: string;
  role: Role;
  name: string;
}
