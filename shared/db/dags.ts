import { gunzipSync, gzipSync } from 'node:zlib';
import { DeleteCommand, GetCommand, PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { tableName } from '../config.ts';
import { type Dag, roots } from '../core/dag/dag.ts';
import { ConflictError, NotFoundError } from '../core/errors.ts';
import { nowIso } from '../core/util/time.ts';
import { type DagUpload, dagFromUpload } from '../core/workflow/workflow.ts';
import { db } from './client.ts';
import { isConditionFailed } from './conditions.ts';
import { listDatatypes } from './datatypes.ts';
import { DAG_FIELDS, pick } from './items.ts';

/**
 * DAG templates, keyed by name. The DAG itself is stored gzipped in `body`: a GraphML upload may
 * be 1 MiB, a DynamoDB item at most 400 KB, and the JSON of a DAG compresses ~10×. The other
 * attributes are a readable summary, so listing never unpacks a body.
 */
const table = () => tableName('dags');

export interface DagSummary {
  name: string;
  description: string;
  nvertices: number;
  nedges: number;
  roots: string[];
  jobtypes: string[];
  datatypes: string[];
  user?: string;
  createdAt: string;
  updatedAt: string;
}

export type StoredDag = DagSummary & Pick<Dag, 'vertices' | 'edges'>;

/** What a listing reads: the summary's fields, never the packed body. */
const SUMMARY_ATTRS = Object.keys(DAG_FIELDS);

/** Packs a JSON value for a binary attribute (also used for workflow snapshots). */
export const pack = (value: unknown): Uint8Array => gzipSync(JSON.stringify(value));
export const unpack = <T>(body: unknown): T =>
  JSON.parse(gunzipSync(body as Uint8Array).toString('utf8')) as T;

const summaryOf = (item: Record<string, unknown>): DagSummary => pick(DAG_FIELDS, item);

/**
 * Validates an upload (GraphML or JSON) against the registered datatypes and stores it. A name
 * that exists is a `ConflictError` unless `replace` (which keeps `createdAt`). Nothing is stored
 * when the DAG is invalid: the `ValidationError` names the problem.
 */
export async function putDag(
  body: DagUpload,
  opts: { user?: string; replace?: boolean } = {},
): Promise<DagSummary> {
  const types = await listDatatypes();
  const dag = dagFromUpload(
    body,
    types.map((t) => t.name),
  );
  const now = nowIso();
  const old = opts.replace ? await getDagItem(dag.name) : undefined;
  const summary: DagSummary = {
    name: dag.name,
    description: dag.description,
    nvertices: dag.vertices.length,
    nedges: dag.edges.length,
    roots: roots(dag),
    jobtypes: [...new Set(dag.vertices.map((v) => v.jobtype))].sort(),
    datatypes: [...new Set(dag.edges.map((e) => e.datatype))].sort(),
    user: opts.user,
    createdAt: (old?.createdAt as string | undefined) ?? now,
    updatedAt: now,
  };
  try {
    await db().send(
      new PutCommand({
        TableName: table(),
        Item: { ...summary, body: pack(dag) },
        ConditionExpression: opts.replace ? undefined : 'attribute_not_exists(#n)',
        ExpressionAttributeNames: opts.replace ? undefined : { '#n': 'name' },
      }),
    );
  } catch (err) {
    if (isConditionFailed(err))
      throw new ConflictError(`DAG ${dag.name} exists; replace it with replace=true (CLI: --replace)`);
    throw err;
  }
  return summary;
}

async function getDagItem(name: string): Promise<Record<string, unknown> | undefined> {
  const r = await db().send(new GetCommand({ TableName: table(), Key: { name }, ConsistentRead: true }));
  return r.Item;
}

/** The stored DAG (summary and content). */
export async function getDag(name: string): Promise<StoredDag> {
  const item = await getDagItem(name);
  if (!item) throw new NotFoundError('DAG', name);
  const dag = unpack<Dag>(item.body);
  return { ...summaryOf(item), vertices: dag.vertices, edges: dag.edges };
}

/** The DAG as the core functions take it. */
export const dagOf = (d: StoredDag): Dag => ({
  name: d.name,
  description: d.description,
  vertices: d.vertices,
  edges: d.edges,
});

/** Every DAG's summary, by name (a small table: a Scan that leaves the bodies behind). */
export async function listDags(): Promise<DagSummary[]> {
  const out: DagSummary[] = [];
  let start: Record<string, unknown> | undefined;
  const names = Object.fromEntries(SUMMARY_ATTRS.map((a, i) => [`#a${i}`, a]));
  do {
    const r = await db().send(
      new ScanCommand({
        TableName: table(),
        ProjectionExpression: Object.keys(names).join(', '),
        ExpressionAttributeNames: names,
        ExclusiveStartKey: start,
      }),
    );
    out.push(...(r.Items ?? []).map(summaryOf));
    start = r.LastEvaluatedKey;
  } while (start);
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** Deletes a DAG. Workflows made from it keep working: each holds its own copy. */
export async function deleteDag(name: string): Promise<void> {
  try {
    await db().send(
      new DeleteCommand({
        TableName: table(),
        Key: { name },
        ConditionExpression: 'attribute_exists(#n)',
        ExpressionAttributeNames: { '#n': 'name' },
      }),
    );
  } catch (err) {
    if (isConditionFailed(err)) throw new NotFoundError('DAG', name);
    throw err;
  }
}
