import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { type AnyHandler, invoke } from './invoke.ts';
import type { LocalFunction } from './serverless-config.ts';

interface Route {
  method: string;
  routeKey: string;
  regex: RegExp;
  params: string[];
  fn: LocalFunction;
  handler: AnyHandler;
}

/** API Gateway's own payload limit. */
const MAX_BODY = 10 * 1024 * 1024;

function compile(path: string): { regex: RegExp; params: string[] } {
  const params: string[] = [];
  const re = path
    .split('/')
    .map((seg) => {
      const m = /^\{([A-Za-z0-9_]+)(\+)?\}$/.exec(seg);
      if (!m) return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      params.push(m[1]!);
      return m[2] ? '(.+)' : '([^/]+)';
    })
    .join('/');
  return { regex: new RegExp(`^${re}$`), params };
}

function readBody(req: IncomingMessage): Promise<Buffer | 'too_large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        resolve('too_large');
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function isText(contentType: string | undefined): boolean {
  if (!contentType) return true;
  return /^(text\/|application\/(json|x-www-form-urlencoded|xml|graphml|javascript))|\+json|\+xml/i.test(
    contentType,
  );
}

/** Builds the API Gateway HTTP API (payload 2.0) event for a request. */
function toEvent(
  req: IncomingMessage,
  url: URL,
  body: Buffer,
  route: Route,
  params: Record<string, string>,
): APIGatewayProxyEventV2 {
  const headers: Record<string, string> = {};
  let cookies: string[] | undefined;
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined) continue;
    if (k === 'cookie') {
      cookies = (Array.isArray(v) ? v.join('; ') : v)
        .split(';')
        .map((c) => c.trim())
        .filter(Boolean);
      continue;
    }
    headers[k] = Array.isArray(v) ? v.join(',') : v;
  }
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) query[k] = k in query ? `${query[k]},${v}` : v;
  const text = isText(headers['content-type']);
  const now = Date.now();
  return {
    version: '2.0',
    routeKey: route.routeKey,
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    cookies,
    headers,
    queryStringParameters: Object.keys(query).length ? query : undefined,
    pathParameters: Object.keys(params).length ? params : undefined,
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: headers.host ?? '127.0.0.1',
      domainPrefix: 'local',
      http: {
        method: req.method ?? 'GET',
        path: url.pathname,
        protocol: 'HTTP/1.1',
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey: route.routeKey,
      stage: '$default',
      time: new Date(now).toUTCString(),
      timeEpoch: now,
    },
    body: body.length ? (text ? body.toString('utf8') : body.toString('base64')) : undefined,
    isBase64Encoded: body.length > 0 && !text,
  };
}

function send(res: ServerResponse, result: unknown): void {
  // API Gateway v2: a non-structured result is JSON with status 200.
  const structured =
    result && typeof result === 'object' && 'statusCode' in result
      ? (result as APIGatewayProxyStructuredResultV2)
      : {
          statusCode: 200,
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(result ?? null),
        };
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(structured.headers ?? {})) headers[k.toLowerCase()] = String(v);
  if (structured.cookies?.length) headers['set-cookie'] = structured.cookies;
  const body = structured.body
    ? structured.isBase64Encoded
      ? Buffer.from(structured.body, 'base64')
      : Buffer.from(structured.body, 'utf8')
    : Buffer.alloc(0);
  headers['content-length'] = String(body.length);
  res.writeHead(structured.statusCode ?? 200, headers);
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const b = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(b)),
  });
  res.end(b);
}

/** Serves every httpApi route of serverless.yml with its handler, as API Gateway would. */
export function createHttpServer(
  routes: { fn: LocalFunction; handler: AnyHandler }[],
  onError: (err: unknown) => void,
  hooks: {
    /** Receives each request's "client went away" signal (held polls end at once); returns the unregister. */
    trackRequest?: (requestId: string, gone: AbortSignal) => () => void;
    /** A reason to answer 503 instead of invoking `fn` (a dependency is down). */
    unavailable?: (fn: LocalFunction) => string | undefined;
  } = {},
): Server {
  const table: Route[] = [];
  for (const { fn, handler } of routes) {
    for (const h of fn.http) {
      const { regex, params } = compile(h.path);
      table.push({ method: h.method, routeKey: `${h.method} ${h.path}`, regex, params, fn, handler });
    }
  }
  // Static segments win over parameters (API Gateway picks the most specific route).
  table.sort(
    (a, b) =>
      b.regex.source.replace(/\(\[\^\/\]\+\)|\(\.\+\)/g, '').length -
      a.regex.source.replace(/\(\[\^\/\]\+\)|\(\.\+\)/g, '').length,
  );
  const server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      let pathMatched = false;
      for (const r of table) {
        const m = r.regex.exec(url.pathname);
        if (!m) continue;
        pathMatched = true;
        if (r.method !== req.method && r.method !== 'ANY') continue;
        const params: Record<string, string> = {};
        try {
          r.params.forEach((p, i) => {
            params[p] = decodeURIComponent(m[i + 1]!);
          });
        } catch {
          // A malformed %-escape in a path parameter: API Gateway rejects the request too.
          return sendJson(res, 400, { message: 'Bad Request' });
        }
        const down = hooks.unavailable?.(r.fn);
        if (down) {
          res.setHeader('retry-after', '1');
          return sendJson(res, 503, {
            code: 'unavailable',
            message: `the local stack is not serving: ${down}`,
          });
        }
        const body = await readBody(req);
        if (body === 'too_large') return sendJson(res, 413, { message: 'Request Entity Too Large' });
        const event = toEvent(req, url, body, r, params);
        const gone = new AbortController();
        const onClose = () => {
          if (!res.writableEnded) gone.abort();
        };
        res.once('close', onClose);
        const untrack = hooks.trackRequest?.(event.requestContext.requestId, gone.signal);
        try {
          const result = await invoke(r.fn, r.handler, event);
          return send(res, result);
        } finally {
          untrack?.();
          res.off('close', onClose);
        }
      }
      // API Gateway answers unknown routes with 404 {"message":"Not Found"}.
      sendJson(res, pathMatched ? 404 : 404, { message: 'Not Found' });
    } catch (err) {
      onError(err);
      if (!res.headersSent) sendJson(res, 500, { message: 'Internal Server Error' });
      else res.end();
    }
  });
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 0;
  return server;
}
