import { listRules } from '../../shared/db/rules.ts';
import { page } from '../../shared/monitor/page-route.ts';
import { hitsByRule, rulesPage } from '../../shared/monitor/pages/catalog.ts';
import { recentFiles } from '../../shared/monitor/snapshot.ts';

/** GET /monitor/rules — the trigger rules and what they did for the newest files. */
export const handler = page({ access: 'viewer' }, async ({ caller }) => {
  const nowMs = Date.now();
  const [rules, recent] = await Promise.all([listRules(), recentFiles(nowMs)]);
  return rulesPage({ rules, hits: hitsByRule(recent.files), window: recent.window }, { caller, nowMs });
});
