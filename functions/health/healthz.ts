import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { tableName } from '../../shared/config.ts';
import { db } from '../../shared/db/client.ts';
import { route } from '../../shared/http/route.ts';

/** 200 when the function can reach its tables. Public: load balancers and `npm start` probe it. */
export const handler = route({ access: 'public' }, async () => {
  await db().send(new GetCommand({ TableName: tableName('tokens'), Key: { id: '-' } }));
  return { status: 'ok' };
});
