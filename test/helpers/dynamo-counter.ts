/**
 * Counts what the code really asks of DynamoDB: a middleware on the shared client (`dynamo()`)
 * that records every command by function, table and index, with the capacity units DynamoDB
 * Local reports for it (`ReturnConsumedCapacity: INDEXES` is added to every request, so GSI
 * writes are counted too). Used by test/integration/cost-count.test.ts (docs/cost-model.md) and
 * the bench; it also checks the calls against each function's `iam:` in serverless.yml.
 *
 * Attribution: the first frame of the call's async stack trace in `functions/<area>/<op>.ts`
 * (stream and scheduled handlers, which await their work), else the httpApi route of the HTTP
 * request being served (its method and path, noted when the local stack's server starts the
 * request); calls made outside a handler (test set-up) count as `-`.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { subscribe } from 'node:diagnostics_channel';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { parse } from 'yaml';
import { loadServerless, repoRoot } from '../../localstack/runtime/serverless-config.ts';
import { dynamo } from '../../shared/db/client.ts';

type Json = Record<string, any>;

/** One IAM-relevant use of a table: the action IAM checks, on a table or one of its indexes. */
export interface Use {
  fn: string;
  action: string;
  /** Entity (`jobs`), without the stage prefix. */
  table: string;
  index?: string;
}

/**
 * Totals for one (function, command, table) in one counter. A call that spans tables (a
 * transaction, a batch) counts one request for each table it touched; `calls()` counts calls.
 */
export interface Tally {
  fn: string;
  /** API operation, e.g. `TransactWriteItems`. */
  command: string;
  table: string;
  requests: number;
  /** Capacity units DynamoDB reported: in all, and split base table / each index. */
  units: { total: number; table: number; indexes: Record<string, number> };
  /** Read units as billed on AWS, with the per-request minimum (DynamoDB Local reports 0 for an empty result). */
  billedReadUnits: number;
}

const READS = new Set(['GetItem', 'Query', 'Scan', 'BatchGetItem', 'TransactGetItems']);
const DOC_NAMES: Record<string, string> = {
  Get: 'GetItem',
  Put: 'PutItem',
  Update: 'UpdateItem',
  Delete: 'DeleteItem',
  BatchGet: 'BatchGetItem',
  BatchWrite: 'BatchWriteItem',
  TransactWrite: 'TransactWriteItems',
  TransactGet: 'TransactGetItems',
};
const TRANSACT_ACTION: Record<string, string> = {
  Put: 'PutItem',
  Update: 'UpdateItem',
  Delete: 'DeleteItem',
  ConditionCheck: 'ConditionCheckItem',
  Get: 'GetItem',
};

/** serverless.yml handler module (`functions/streams/matchmaker`) → function name. */
function handlerModules(): Map<string, string> {
  const doc = parse(readFileSync(join(repoRoot, 'serverless.yml'), 'utf8')) as Json;
  const out = new Map<string, string>();
  for (const [name, fn] of Object.entries((doc.functions ?? {}) as Json)) {
    const h = String(fn.handler);
    out.set(h.slice(0, h.lastIndexOf('.')), name);
  }
  return out;
}

/** Each function's `iam.dynamodb` declaration: `Table[/index/name]` → actions. */
function declaredIam(): Map<string, Record<string, string[]>> {
  const doc = parse(readFileSync(join(repoRoot, 'serverless.yml'), 'utf8')) as Json;
  const out = new Map<string, Record<string, string[]>>();
  for (const [name, fn] of Object.entries((doc.functions ?? {}) as Json)) {
    if (fn.iam) out.set(name, fn.iam.dynamodb ?? {});
  }
  return out;
}

/** Entity → table logical id, from the table names in serverless.yml (`…-jobs` → JobsTable). */
function tableLogicalIds(): Map<string, string> {
  const doc = parse(readFileSync(join(repoRoot, 'serverless.yml'), 'utf8')) as Json;
  const out = new Map<string, string>();
  for (const [id, r] of Object.entries((doc.resources?.Resources ?? {}) as Json)) {
    if (r.Type !== 'AWS::DynamoDB::Table') continue;
    const name = String(r.Properties.TableName);
    out.set(name.slice(name.lastIndexOf('-') + 1), id);
  }
  return out;
}

/** The function serving the current HTTP request (set for the request's whole async life). */
const currentRoute = new AsyncLocalStorage<string>();
let routes: { method: string; re: RegExp; fn: string }[] | undefined;

function routeOf(method: string | undefined, url: string | undefined): string {
  routes ??= loadServerless('local').functions.flatMap((f) =>
    f.http.map((h) => ({
      method: h.method,
      re: new RegExp(`^${h.path.replace(/\{[^/}]+\}/g, '[^/]+')}$`),
      fn: f.name,
    })),
  );
  const path = (url ?? '').split('?')[0]!;
  return routes.find((r) => r.method === method && r.re.test(path))?.fn ?? '-';
}

let listening = false;
function followHttpRequests(): void {
  if (listening) return;
  listening = true;
  // Published synchronously just before the server emits 'request', in the request's context.
  subscribe('http.server.request.start', (msg) => {
    const { request } = msg as { request: IncomingMessage };
    currentRoute.enterWith(routeOf(request.method, request.url));
  });
}

export class DynamoCounter {
  private tallies = new Map<string, Tally>();
  private callCounts = new Map<string, { fn: string; command: string; table: string; count: number }>();
  readonly uses = new Map<string, Use>();
  private readonly modules = handlerModules();

  constructor(private readonly prefix: string) {}

  /** Current totals; `reset()` starts a new measurement. */
  tally(): Tally[] {
    return [...this.tallies.values()].map((t) => structuredClone(t));
  }

  /** Requests per (function, command, first table), one per call whatever the tables it touched. */
  calls(): { fn: string; command: string; table: string; count: number }[] {
    return [...this.callCounts.values()].map((c) => ({ ...c }));
  }

  reset(): void {
    this.tallies.clear();
    this.callCounts.clear();
  }

  /** The serverless.yml function whose handler is on the call's async stack. */
  functionOf(stack: string | undefined): string {
    for (const m of (stack ?? '').matchAll(/\/(functions\/[\w-]+\/[\w.-]+)\.ts:/g)) {
      const name = this.modules.get(m[1]!);
      if (name) return name;
    }
    return currentRoute.getStore() ?? '-';
  }

  private entity(table: string): string {
    return table.startsWith(`${this.prefix}-`) ? table.slice(this.prefix.length + 1) : table;
  }

  record(fn: string, command: string, input: Json, output: Json | undefined): void {
    const first = this.entity(usesOf(command, input)[0]?.table ?? '-');
    const callKey = `${fn}\u0000${command}\u0000${first}`;
    const call = this.callCounts.get(callKey) ?? { fn, command, table: first, count: 0 };
    call.count++;
    this.callCounts.set(callKey, call);
    for (const u of usesOf(command, input)) {
      const use = { fn, ...u, table: this.entity(u.table) };
      this.uses.set(JSON.stringify(use), use);
    }
    const consumed = [output?.ConsumedCapacity ?? []].flat() as Json[];
    const tables = consumed.length
      ? consumed.map((c) => String(c.TableName))
      : [...new Set(usesOf(command, input).map((u) => u.table))];
    for (const table of tables) {
      const key = `${fn}\u0000${command}\u0000${this.entity(table)}`;
      let t = this.tallies.get(key);
      if (!t) {
        t = {
          fn,
          command,
          table: this.entity(table),
          requests: 0,
          units: { total: 0, table: 0, indexes: {} },
          billedReadUnits: 0,
        };
        this.tallies.set(key, t);
      }
      t.requests++;
      const c = consumed.find((x) => x.TableName === table);
      const total = Number(c?.CapacityUnits ?? 0);
      t.units.total += total;
      t.units.table += Number(c?.Table?.CapacityUnits ?? 0);
      const indexes = { ...(c?.GlobalSecondaryIndexes ?? {}), ...(c?.LocalSecondaryIndexes ?? {}) };
      for (const [ix, v] of Object.entries(indexes)) {
        t.units.indexes[ix] = (t.units.indexes[ix] ?? 0) + Number((v as Json).CapacityUnits ?? 0);
      }
      if (READS.has(command)) t.billedReadUnits += Math.max(total, input.ConsistentRead ? 1 : 0.5);
    }
  }

  /**
   * Calls that the calling function's `iam:` in serverless.yml does not allow (the same rules
   * scripts/sls/function-iam.mjs turns into its role). Empty when every call is declared.
   */
  iamViolations(): string[] {
    const declared = declaredIam();
    const ids = tableLogicalIds();
    const out: string[] = [];
    for (const u of this.uses.values()) {
      if (u.fn === '-') continue;
      const decl = declared.get(u.fn);
      const id = ids.get(u.table) ?? u.table;
      const target = u.index ? `${id}/index/${u.index}` : id;
      if (!decl?.[target]?.includes(u.action)) out.push(`${u.fn}: ${u.action} on ${target}`);
    }
    return out.sort();
  }
}

function usesOf(command: string, input: Json): { action: string; table: string; index?: string }[] {
  if (command === 'BatchGetItem' || command === 'BatchWriteItem')
    return Object.keys(input.RequestItems ?? {}).map((table) => ({ action: command, table }));
  if (command === 'TransactWriteItems' || command === 'TransactGetItems')
    return (input.TransactItems ?? []).flatMap((it: Json) =>
      Object.entries(it).map(([kind, op]) => ({
        action: TRANSACT_ACTION[kind] ?? kind,
        table: String((op as Json).TableName),
      })),
    );
  return [{ action: command, table: String(input.TableName), index: input.IndexName }];
}

/**
 * Installs the counter on the shared DynamoDB client of this process. `prefix` is the table
 * prefix of the stack under test (table names are reported without it).
 */
export function countDynamo(prefix: string, client: DynamoDBClient = dynamo()): DynamoCounter {
  const counter = new DynamoCounter(prefix);
  followHttpRequests();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const raw = String(context.commandName ?? '').replace(/Command$/, '');
      const command = DOC_NAMES[raw] ?? raw;
      const input = args.input as Json;
      input.ReturnConsumedCapacity = 'INDEXES';
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = 60;
      const stack = new Error().stack;
      Error.stackTraceLimit = limit;
      const fn = counter.functionOf(stack);
      try {
        const out = await next(args);
        counter.record(fn, command, input, out.output as Json);
        return out;
      } catch (err) {
        // A failed condition or a cancelled transaction is still a request (and billed on AWS).
        const e = err as Json;
        counter.record(fn, command, input, { ConsumedCapacity: e.ConsumedCapacity });
        throw err;
      }
    },
    { step: 'initialize', name: 'p3sDynamoCounter', override: true },
  );
  return counter;
}
