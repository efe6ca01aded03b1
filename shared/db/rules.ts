import { DeleteCommand, GetCommand, PutCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { tableName } from '../config.ts';
import { type RuleInput, type TriggerRule, windowStart } from '../core/data/rule.ts';
import { ConflictError, NotFoundError } from '../core/errors.ts';
import { nowIso } from '../core/util/time.ts';
import { db } from './client.ts';
import { isConditionFailed } from './conditions.ts';
import { pick, RULE_FIELDS } from './items.ts';

/** Trigger rules, keyed by name (`id` attribute). A small table: listing is a Scan. */
const table = () => tableName('rules');

const toRule = (item: Record<string, unknown>): TriggerRule => pick(RULE_FIELDS, item);

/**
 * Stores a rule. A new name is created; an existing one is a `ConflictError` unless `replace`,
 * which keeps its `createdAt`.
 */
export async function putRule(
  input: RuleInput,
  opts: { user?: string; replace?: boolean } = {},
): Promise<TriggerRule> {
  const now = nowIso();
  const old = opts.replace ? await getRuleItem(input.name) : undefined;
  const rule: TriggerRule = {
    ...input,
    user: opts.user,
    createdAt: (old?.createdAt as string | undefined) ?? now,
    updatedAt: now,
  };
  try {
    await db().send(
      new PutCommand({
        TableName: table(),
        Item: { id: input.name, ...rule },
        ConditionExpression: opts.replace ? undefined : 'attribute_not_exists(id)',
      }),
    );
  } catch (err) {
    if (isConditionFailed(err))
      throw new ConflictError(`rule ${input.name} exists; replace it with replace=true (CLI: --replace)`);
    throw err;
  }
  return rule;
}

async function getRuleItem(name: string): Promise<Record<string, unknown> | undefined> {
  const r = await db().send(new GetCommand({ TableName: table(), Key: { id: name }, ConsistentRead: true }));
  return r.Item;
}

export async function getRule(name: string): Promise<TriggerRule> {
  const item = await getRuleItem(name);
  if (!item) throw new NotFoundError('rule', name);
  return toRule(item);
}

/** Every rule, by name. Read consistently: a rule added a moment ago applies to the next file. */
export async function listRules(): Promise<TriggerRule[]> {
  const out: TriggerRule[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const r = await db().send(
      new ScanCommand({ TableName: table(), ExclusiveStartKey: start, ConsistentRead: true }),
    );
    out.push(...(r.Items ?? []).map(toRule));
    start = r.LastEvaluatedKey;
  } while (start);
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

export async function setRuleEnabled(name: string, enabled: boolean): Promise<TriggerRule> {
  try {
    const r = await db().send(
      new UpdateCommand({
        TableName: table(),
        Key: { id: name },
        UpdateExpression: 'SET enabled = :e, updatedAt = :now',
        ConditionExpression: 'attribute_exists(id)',
        ExpressionAttributeValues: { ':e': enabled, ':now': nowIso() },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return toRule(r.Attributes!);
  } catch (err) {
    if (isConditionFailed(err)) throw new NotFoundError('rule', name);
    throw err;
  }
}

export async function deleteRule(name: string): Promise<void> {
  try {
    await db().send(
      new DeleteCommand({
        TableName: table(),
        Key: { id: name },
        ConditionExpression: 'attribute_exists(id)',
      }),
    );
  } catch (err) {
    if (isConditionFailed(err)) throw new NotFoundError('rule', name);
    throw err;
  }
}

/**
 * Takes one of a rule's `files` slots in the fixed window containing `nowMs`: a conditional
 * counter (stats table, `rulewin#<rule>` / window start) that only increments below the limit,
 * so concurrent registrations can never exceed it. False when the window is full.
 */
export async function takeWindowSlot(
  rule: string,
  limit: { files: number; window: number },
  nowMs = Date.now(),
): Promise<boolean> {
  try {
    await db().send(
      new UpdateCommand({
        TableName: tableName('stats'),
        Key: { pk: `rulewin#${rule}`, sk: windowStart(limit.window, nowMs) },
        UpdateExpression: 'ADD n :one SET #ttl = if_not_exists(#ttl, :ttl)',
        ConditionExpression: 'attribute_not_exists(n) OR n < :k',
        ExpressionAttributeNames: { '#ttl': 'ttl' },
        ExpressionAttributeValues: {
          ':one': 1,
          ':k': limit.files,
          ':ttl': Math.floor(nowMs / 1000) + limit.window + 86400,
        },
      }),
    );
    return true;
  } catch (err) {
    if (isConditionFailed(err)) return false;
    throw err;
  }
}
