import { listData } from '../../shared/db/data.ts';
import { page } from '../../shared/monitor/page-route.ts';
import { dataPage } from '../../shared/monitor/pages/data.ts';
import { DataQuery, WINDOWS } from '../../shared/monitor/queries.ts';

/** GET /monitor/data — registered files, newest first (the data table's `list` index). */
export const handler = page({ access: 'viewer', query: DataQuery }, async ({ query, caller }) => {
  const nowMs = Date.now();
  const since = query.window ? new Date(nowMs - WINDOWS[query.window]).toISOString() : undefined;
  const { data, nextCursor } = await listData({ ...query, since });
  return dataPage({ items: data, nextCursor, query }, { caller, nowMs });
});
