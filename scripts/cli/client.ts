import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { defaultServer } from '../../pilot/options.ts';

/** Where the CLI talks to and as whom: $P3S_SERVER (else the local stack, see defaultServer). */
export interface Target {
  server: string;
  token?: string;
}

export function target(env: NodeJS.ProcessEnv = process.env): Target {
  const server = defaultServer(env).replace(/\/+$/, '');
  let token = env.P3S_TOKEN?.trim();
  if (!token) {
    const file = join(resolve(env.P3S_HOME ?? '.p3s'), 'admin.token');
    if (existsSync(file)) token = readFileSync(file, 'utf8').trim();
  }
  return { server, token };
}

/** An HTTP answer that was not 2xx, carrying the server's message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    const b = body as { message?: string; code?: string } | undefined;
    super(b?.message ? `${b.message} (HTTP ${status})` : `HTTP ${status}`);
  }
}

/** One API call; throws ApiError for non-2xx and a plain Error when the server is unreachable. */
export async function api<T = unknown>(
  t: Target,
  method: string,
  path: string,
  body?: unknown,
  opts: { timeoutMs?: number; raw?: boolean } = {},
): Promise<T> {
  const headers: Record<string, string> = {};
  if (t.token) headers.authorization = `Bearer ${t.token}`;
  let payload: string | undefined;
  if (body !== undefined) {
    if (typeof body === 'string' && opts.raw) payload = body;
    else {
      payload = JSON.stringify(body);
      headers['content-type'] = 'application/json';
    }
  }
  let res: Response;
  try {
    res = await fetch(`${t.server}${path}`, {
      method,
      headers,
      body: payload,
      signal: AbortSignal.timeout(opts.timeoutMs ?? 30_000),
    });
  } catch (err) {
    throw new Error(
      `cannot reach p3s server at ${t.server}: ${(err as Error).cause ?? (err as Error).message}`,
    );
  }
  const text = await res.text();
  let parsed: unknown = text;
  if ((res.headers.get('content-type') ?? '').includes('json') && text) {
    try {
      parsed = JSON.parse(text);
    } catch {}
  }
  if (!res.ok) throw new ApiError(res.status, parsed);
  return parsed as T;
}

/** Builds `?a=1&b=2` from defined values. */
export function qs(params: Record<string, string | number | boolean | undefined>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') u.set(k, String(v));
  const s = u.toString();
  return s ? `?${s}` : '';
}
