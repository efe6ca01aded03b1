import { z } from 'zod';
import { NotFoundError } from '../../shared/core/errors.ts';
import { HttpResponse, route } from '../../shared/http/route.ts';
import { ASSETS } from '../../shared/monitor/assets/index.ts';

/**
 * GET /monitor/assets/{file} — the monitor's CSS and JS (public: the sign-in page needs them).
 * URLs carry the content hash, so a matching `v` may be cached for good.
 */
export const handler = route(
  {
    access: 'public',
    path: z.object({ file: z.string().max(64) }),
    query: z.object({ v: z.string().max(64).optional() }),
  },
  async ({ path, query }) => {
    const a = Object.hasOwn(ASSETS, path.file) ? ASSETS[path.file] : undefined;
    if (!a) throw new NotFoundError('asset', path.file);
    const cache = query.v === a.hash ? 'public, max-age=31536000, immutable' : 'public, max-age=60';
    return new HttpResponse(200, a.body, {
      'content-type': a.type,
      'cache-control': cache,
      etag: `"${a.hash}"`,
      'x-content-type-options': 'nosniff',
    });
  },
);
