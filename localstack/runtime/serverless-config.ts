import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

/** What the local stack needs from serverless.yml, with variables resolved. */
export interface LocalFunction {
  name: string;
  /** Module path relative to the repo root, without extension, and the export name. */
  module: string;
  exportName: string;
  timeoutSec: number;
  /** Lambda's reserved concurrency; the local stack runs at most this many invocations at once. */
  reservedConcurrency?: number;
  http: { method: string; path: string }[];
  streams: StreamSource[];
  schedules: { rate: string; input?: unknown }[];
  s3: { bucket: string; event: string; rules?: unknown[] }[];
}

export interface StreamSource {
  /** Logical id of the table resource (JobsTable). */
  table: string;
  batchSize: number;
  /** Seconds Lambda gathers records before invoking (`batchWindow`, MaximumBatchingWindowInSeconds). */
  batchWindow: number;
  maximumRetryAttempts: number;
  reportBatchItemFailures: boolean;
  filterPatterns: unknown[];
}

export interface ServerlessModel {
  service: string;
  environment: Record<string, string>;
  functions: LocalFunction[];
  /** CloudFormation resources by logical id. */
  resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
  custom: Record<string, unknown>;
}

const root = join(import.meta.dirname, '..', '..');

type Dict = Record<string, unknown>;

function get(obj: unknown, path: string): unknown {
  let cur = obj;
  for (const p of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Dict)[p];
  }
  return cur;
}

/**
 * Resolves the variable forms this project uses: ${self:a.b}, ${sls:stage}, ${opt:x, 'd'},
 * ${env:X, 'd'}. Anything else is an error, so a new form cannot silently break the local stack.
 */
function resolveString(s: string, doc: Dict, opts: Dict, depth = 0): unknown {
  if (depth > 10) throw new Error(`serverless.yml: variable recursion in ${s}`);
  const whole = /^\$\{([^{}]+)\}$/.exec(s);
  const one = (expr: string): unknown => {
    const [ref, ...rest] = expr.split(',');
    const fallback = rest.length
      ? rest
          .join(',')
          .trim()
          .replace(/^['"]|['"]$/g, '')
      : undefined;
    const [kind, key] = [ref!.slice(0, ref!.indexOf(':')).trim(), ref!.slice(ref!.indexOf(':') + 1).trim()];
    let v: unknown;
    if (kind === 'self') v = get(doc, key);
    else if (kind === 'sls' && key === 'stage') v = opts.stage;
    else if (kind === 'opt') v = opts[key];
    else if (kind === 'env') v = process.env[key];
    else throw new Error(`serverless.yml: unsupported variable \${${expr}}`);
    if (v === undefined) v = fallback;
    return typeof v === 'string' ? resolveString(v, doc, opts, depth + 1) : v;
  };
  if (whole) return one(whole[1]!);
  return s.replace(/\$\{([^{}]+)\}/g, (_m, expr: string) => String(one(expr)));
}

function resolveAll(node: unknown, doc: Dict, opts: Dict): unknown {
  if (typeof node === 'string') return resolveString(node, doc, opts);
  if (Array.isArray(node)) return node.map((n) => resolveAll(n, doc, opts));
  if (node && typeof node === 'object') {
    const out: Dict = {};
    for (const [k, v] of Object.entries(node)) out[k] = resolveAll(v, doc, opts);
    return out;
  }
  return node;
}

function streamTable(arn: unknown): string {
  const ga = (arn as Dict)?.['Fn::GetAtt'];
  if (Array.isArray(ga) && ga[1] === 'StreamArn') return String(ga[0]);
  throw new Error(
    `serverless.yml: stream arn must be Fn::GetAtt [Table, StreamArn], got ${JSON.stringify(arn)}`,
  );
}

/** Reads serverless.yml for a stage (the local stack uses stage `local`). */
export function loadServerless(stage = 'local', file = join(root, 'serverless.yml')): ServerlessModel {
  const raw = parse(readFileSync(file, 'utf8')) as Dict;
  const opts = { stage };
  const doc = resolveAll(raw, raw, opts) as Dict;
  const provider = (doc.provider ?? {}) as Dict;
  const defaultTimeout = Number(provider.timeout ?? 6);
  const localTimeouts = (
    stage === 'local' ? ((doc.custom as Dict | undefined)?.localTimeouts ?? {}) : {}
  ) as Dict;
  const functions: LocalFunction[] = [];
  for (const [name, fnRaw] of Object.entries((doc.functions ?? {}) as Dict)) {
    const fn = fnRaw as Dict;
    const handler = String(fn.handler);
    const dot = handler.lastIndexOf('.');
    const lf: LocalFunction = {
      name,
      module: handler.slice(0, dot),
      exportName: handler.slice(dot + 1),
      timeoutSec: Number(localTimeouts[name] ?? fn.timeout ?? defaultTimeout),
      reservedConcurrency: fn.reservedConcurrency === undefined ? undefined : Number(fn.reservedConcurrency),
      http: [],
      streams: [],
      schedules: [],
      s3: [],
    };
    for (const ev of (fn.events ?? []) as Dict[]) {
      if (ev.httpApi) {
        const h = ev.httpApi as Dict;
        lf.http.push({ method: String(h.method).toUpperCase(), path: String(h.path) });
      } else if (ev.stream) {
        const s = ev.stream as Dict;
        lf.streams.push({
          table: streamTable(s.arn),
          batchSize: Number(s.batchSize ?? 100),
          batchWindow: Number(s.batchWindow ?? 0),
          maximumRetryAttempts: Number(s.maximumRetryAttempts ?? 2),
          reportBatchItemFailures: s.functionResponseType === 'ReportBatchItemFailures',
          filterPatterns: (s.filterPatterns as unknown[]) ?? [],
        });
      } else if (ev.schedule) {
        const s = ev.schedule;
        if (typeof s === 'string') lf.schedules.push({ rate: s });
        else lf.schedules.push({ rate: String((s as Dict).rate), input: (s as Dict).input });
      } else if (ev.s3) {
        const s = ev.s3 as Dict;
        lf.s3.push({
          bucket: String(s.bucket),
          event: String(s.event ?? 's3:ObjectCreated:*'),
          rules: s.rules as unknown[],
        });
      }
    }
    functions.push(lf);
  }
  const resources = ((doc.resources as Dict)?.Resources ?? {}) as ServerlessModel['resources'];
  const environment: Record<string, string> = {};
  for (const [k, v] of Object.entries((provider.environment ?? {}) as Dict)) environment[k] = String(v);
  return {
    service: String(doc.service),
    environment,
    functions,
    resources,
    custom: (doc.custom ?? {}) as Dict,
  };
}

/** Seconds of a `rate(N unit)` expression. */
export function rateSeconds(rate: string): number {
  const m = /^rate\((\d+)\s+(second|minute|hour|day)s?\)$/.exec(rate.trim());
  if (!m) throw new Error(`unsupported schedule expression ${rate}`);
  const n = Number(m[1]);
  return n * { second: 1, minute: 60, hour: 3600, day: 86400 }[m[2] as 'second'];
}

export const repoRoot = root;
