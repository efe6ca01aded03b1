import { z } from 'zod';
import { RuleName } from '../../shared/core/data/rule.ts';
import { getRule } from '../../shared/db/rules.ts';
import { page } from '../../shared/monitor/page-route.ts';
import { hitsByRule, rulePage } from '../../shared/monitor/pages/catalog.ts';
import { recentFiles } from '../../shared/monitor/snapshot.ts';

/** GET /monitor/rules/{name} — one trigger rule and its recent hits. */
export const handler = page(
  { access: 'viewer', path: z.object({ name: RuleName }) },
  async ({ path, caller }) => {
    const nowMs = Date.now();
    const [rule, recent] = await Promise.all([getRule(path.name), recentFiles(nowMs)]);
    const hits = hitsByRule(recent.files).get(rule.name) ?? [];
    return rulePage({ rule, hits, window: recent.window }, { caller, nowMs });
  },
);
