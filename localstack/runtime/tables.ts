import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DeleteTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  ListTablesCommand,
  ResourceInUseException,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import type { ServerlessModel } from './serverless-config.ts';

export interface LocalTable {
  logicalId: string;
  /** Entity suffix after the prefix (`jobs`). */
  entity: string;
  name: string;
  streamArn?: string;
}

type Props = Record<string, unknown>;

/**
 * The DynamoDB tables declared in serverless.yml, renamed to `<prefix>-<entity>`: the name in the
 * yml is `${self:custom.tablePrefix}-<entity>`, so the entity is what follows the stage prefix.
 */
function tableSpecs(
  model: ServerlessModel,
  prefix: string,
): { logicalId: string; entity: string; input: CreateTableCommandInput; ttl?: string }[] {
  const ymlPrefix = String((model.custom as Props).tablePrefix);
  const out = [];
  for (const [logicalId, res] of Object.entries(model.resources)) {
    if (res.Type !== 'AWS::DynamoDB::Table') continue;
    const p = res.Properties;
    const ymlName = String(p.TableName);
    if (!ymlName.startsWith(`${ymlPrefix}-`))
      throw new Error(`table ${logicalId}: TableName must start with the tablePrefix`);
    const entity = ymlName.slice(ymlPrefix.length + 1);
    const stream = p.StreamSpecification as Props | undefined;
    const input: CreateTableCommandInput = {
      TableName: `${prefix}-${entity}`,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: p.AttributeDefinitions as CreateTableCommandInput['AttributeDefinitions'],
      KeySchema: p.KeySchema as CreateTableCommandInput['KeySchema'],
      GlobalSecondaryIndexes: p.GlobalSecondaryIndexes as CreateTableCommandInput['GlobalSecondaryIndexes'],
      LocalSecondaryIndexes: p.LocalSecondaryIndexes as CreateTableCommandInput['LocalSecondaryIndexes'],
      StreamSpecification: stream
        ? { StreamEnabled: true, StreamViewType: stream.StreamViewType as 'NEW_AND_OLD_IMAGES' }
        : undefined,
    };
    const ttlSpec = p.TimeToLiveSpecification as Props | undefined;
    out.push({ logicalId, entity, input, ttl: ttlSpec?.Enabled ? String(ttlSpec.AttributeName) : undefined });
  }
  return out;
}

/** Creates (or adopts, when they exist from a previous run) every table; returns them with stream ARNs. */
export async function ensureTables(
  client: DynamoDBClient,
  model: ServerlessModel,
  prefix: string,
): Promise<LocalTable[]> {
  const specs = tableSpecs(model, prefix);
  const tables: LocalTable[] = [];
  await Promise.all(
    specs.map(async (s) => {
      let created = false;
      try {
        await client.send(new CreateTableCommand(s.input));
        created = true;
      } catch (err) {
        if (!(err instanceof ResourceInUseException)) throw err;
      }
      if (created && s.ttl) {
        await client.send(
          new UpdateTimeToLiveCommand({
            TableName: s.input.TableName,
            TimeToLiveSpecification: { AttributeName: s.ttl, Enabled: true },
          }),
        );
      }
      if (!created) await upgradeIndexes(client, s.input);
      const d = await client.send(new DescribeTableCommand({ TableName: s.input.TableName }));
      tables.push({
        logicalId: s.logicalId,
        entity: s.entity,
        name: s.input.TableName!,
        streamArn: d.Table?.LatestStreamArn,
      });
    }),
  );
  return tables;
}

/** Drops every table with this prefix (test clean-up). */
export async function dropTables(client: DynamoDBClient, prefix: string): Promise<void> {
  let start: string | undefined;
  const names: string[] = [];
  do {
    const r = await client.send(new ListTablesCommand({ ExclusiveStartTableName: start }));
    names.push(...(r.TableNames ?? []).filter((n) => n.startsWith(`${prefix}-`)));
    start = r.LastEvaluatedTableName;
  } while (start);
  await Promise.all(names.map((n) => client.send(new DeleteTableCommand({ TableName: n })).catch(() => {})));
}

/**
 * A table kept on disk from an older version of serverless.yml gets the indexes the yml now
 * declares: a missing index is created, one whose keys or projection changed is dropped and
 * created again (DynamoDB Local backfills it from the table). Indexes the yml no longer has
 * are dropped. One change per call, as DynamoDB requires.
 */
async function upgradeIndexes(client: DynamoDBClient, spec: CreateTableCommandInput): Promise<void> {
  const d = await client.send(new DescribeTableCommand({ TableName: spec.TableName }));
  const have = new Map((d.Table?.GlobalSecondaryIndexes ?? []).map((g) => [g.IndexName!, g]));
  const want = spec.GlobalSecondaryIndexes ?? [];
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  for (const [name, g] of have) {
    const w = want.find((x) => x.IndexName === name);
    const projection = (p: typeof g.Projection) => ({
      ProjectionType: p?.ProjectionType,
      NonKeyAttributes: p?.NonKeyAttributes?.length ? [...p.NonKeyAttributes].sort() : undefined,
    });
    if (w && same(w.KeySchema, g.KeySchema) && same(projection(w.Projection), projection(g.Projection)))
      continue;
    await client.send(
      new UpdateTableCommand({
        TableName: spec.TableName,
        GlobalSecondaryIndexUpdates: [{ Delete: { IndexName: name } }],
      }),
    );
    have.delete(name);
  }
  for (const w of want) {
    if (have.has(w.IndexName!)) continue;
    await client.send(
      new UpdateTableCommand({
        TableName: spec.TableName,
        AttributeDefinitions: spec.AttributeDefinitions,
        GlobalSecondaryIndexUpdates: [
          { Create: { IndexName: w.IndexName, KeySchema: w.KeySchema, Projection: w.Projection } },
        ],
      }),
    );
  }
}
