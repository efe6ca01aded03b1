import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { tableName } from '../../shared/config.ts';
import { db } from '../../shared/db/client.ts';
import { type HealthProblem, runtimeProblems } from '../../shared/health.ts';
import { HttpResponse, route } from '../../shared/http/route.ts';

/**
 * 200 `{status: "ok"}` when the function can read its tables and the runtime reports nothing
 * broken; else 503 `{status: "unavailable", problems: [{part, message, since}]}` naming each
 * failing part (`dynamodb`, `stream jobs`…). Public: load balancers and `npm start` probe it.
 */
export const handler = route({ access: 'public' }, async () => {
  const problems = runtimeProblems();
  // The runtime already knows the database is down: do not wait for the SDK's retries to say so.
  if (!problems.some((p) => p.part === 'dynamodb')) {
    try {
      await db().send(new GetCommand({ TableName: tableName('tokens'), Key: { id: '-' } }));
    } catch (err) {
      const e = err as Error;
      problems.push({ part: 'dynamodb', message: `cannot read the tokens table: ${e.name}: ${e.message}` });
    }
  }
  if (!problems.length) return { status: 'ok' };
  return new HttpResponse(503, JSON.stringify({ status: 'unavailable', problems } satisfies Unavailable), {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'retry-after': '1',
  });
});

interface Unavailable {
  status: 'unavailable';
  problems: HealthProblem[];
}
