/**
 * The pilot's HTTP client. Every request has a timeout; network errors, timeouts, 5xx, 408,
 * 429 and unusable answers are retried with capped exponential backoff and jitter, because
 * the server is idempotent and a briefly unreachable server must never cost a running
 * payload. Only the caller's signals stop the retrying.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Logger } from './log.ts';
import {
  type Action,
  type PollAnswer,
  ProtocolError,
  parsePollAnswer,
  parseRegisterAnswer,
  parseReportAnswer,
  type Registration,
  type Report,
  type SiteConfig,
} from './protocol.ts';
import { pause } from './time.ts';

export interface Backoff {
  baseMs: number;
  maxMs: number;
}

/** 0.2 s doubling to 30 s. */
export const DEFAULT_BACKOFF: Backoff = { baseMs: 200, maxMs: 30_000 };

/**
 * Wait before retry number `attempt` (0 = first retry): the ceiling min(max, base·2^attempt),
 * jittered into [ceiling/2, ceiling] so that pilots that lost the server together do not
 * come back together.
 */
export function backoffDelay(attempt: number, b: Backoff = DEFAULT_BACKOFF, random = Math.random): number {
  const ceiling = Math.min(b.maxMs, b.baseMs * 2 ** Math.min(attempt, 40));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** 401/403: the token (or pilot key) is refused. Never retried. */
export class AuthError extends Error {
  readonly code = 'auth';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Another final 4xx on register or poll: this pilot cannot go on (unknown, ended, bad request). */
export class RejectedError extends Error {
  readonly code = 'rejected';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The server could not be reached and the caller did not want (more) retries. */
export class UnreachableError extends Error {
  readonly code = 'unreachable';
}

/** A signal of the caller stopped the request or its retries. */
export class StoppedError extends Error {
  readonly code = 'stopped';
}

/** A report's fate: accepted (with the server's action), or refused for good. */
export type ReportResult = { ok: true; action: Action } | { ok: false; status: number; message: string };

export interface CallOptions {
  /** Aborts the request in flight and any further retries (used for polls on shutdown). */
  signal?: AbortSignal;
  /** Stops retrying but lets a request in flight finish; when already aborted: one attempt. */
  until?: AbortSignal;
  /** false: one attempt only (heartbeats: the next beat is the retry). */
  retry?: boolean;
}

export interface ClientOptions {
  server: string;
  token: string;
  pilotId: string;
  key: string;
  log: Logger;
  backoff?: Backoff;
  /** Timeout of register and report requests; a poll gets wait + 10 s. */
  timeoutMs?: number;
  random?: () => number;
}

interface Answer {
  status: number;
  body: unknown;
}

export class PilotClient {
  constructor(private readonly o: ClientOptions) {}

  /** The id this client acts as (it changes when the pilot registers again). */
  get pilotId(): string {
    return this.o.pilotId;
  }

  /** Acts as another pilot id from now on (a new registration of the same process). */
  useId(id: string): void {
    this.o.pilotId = id;
  }

  async register(reg: Registration, opts: CallOptions = {}): Promise<SiteConfig> {
    const a = await this.call('POST', '/pilots', reg, opts, this.timeout, parseRegisterAnswer, false);
    return this.final('register', a);
  }

  async poll(wait: number, opts: CallOptions = {}): Promise<PollAnswer> {
    const path = `/pilots/${encodeURIComponent(this.o.pilotId)}/poll`;
    const a = await this.call('POST', path, { wait }, opts, (wait + 10) * 1000, parsePollAnswer);
    return this.final('poll', a);
  }

  /** Retried until accepted; a 4xx other than 401/403 (409: not ours any more) ends it. */
  async report(report: Report, opts: CallOptions = {}): Promise<ReportResult> {
    const path = `/pilots/${encodeURIComponent(this.o.pilotId)}/report`;
    const a = await this.call('POST', path, report, opts, this.timeout, parseReportAnswer);
    if (a.status === 401 || a.status === 403) throw new AuthError(a.status, refusal('report', a));
    if (a.parsed !== undefined) return { ok: true, action: a.parsed };
    return { ok: false, status: a.status, message: refusal(`report ${report.event}`, a) };
  }

  private get timeout(): number {
    return this.o.timeoutMs ?? 10_000;
  }

  private final<T>(what: string, a: Answer & { parsed?: T }): T {
    if (a.parsed !== undefined) return a.parsed;
    const message = refusal(what, a);
    if (a.status === 401 || a.status === 403) throw new AuthError(a.status, message);
    throw new RejectedError(a.status, message);
  }

  /**
   * One logical request: attempts until a 2xx with a usable body (`parsed` set) or a final
   * 4xx (`parsed` unset), retrying everything else unless told not to.
   */
  private async call<T>(
    method: string,
    path: string,
    body: unknown,
    opts: CallOptions,
    timeoutMs: number,
    parse: (body: unknown) => T,
    withKey = true,
  ): Promise<Answer & { parsed?: T }> {
    const { signal, until } = opts;
    for (let attempt = 0; ; attempt++) {
      if (signal?.aborted) throw new StoppedError(`${method} ${path} stopped`);
      let failure: string;
      try {
        const a = await this.once(method, path, body, timeoutMs, signal, withKey);
        if (a.status >= 200 && a.status < 300) return { ...a, parsed: parse(a.body) };
        if (!transient(a.status)) return a;
        failure = `HTTP ${a.status}`;
      } catch (err) {
        if (signal?.aborted) throw new StoppedError(`${method} ${path} stopped`);
        failure = err instanceof ProtocolError ? err.message : describe(err);
      }
      if (opts.retry === false || until?.aborted) {
        throw new UnreachableError(`${method} ${path}: ${failure}`);
      }
      const wait = backoffDelay(attempt, this.o.backoff, this.o.random);
      this.o.log.warn('server request failed, retrying', { request: `${method} ${path}`, failure, wait });
      if (!(await pause(wait, signal, until))) {
        if (signal?.aborted) throw new StoppedError(`${method} ${path} stopped`);
        throw new UnreachableError(`${method} ${path}: ${failure}`);
      }
    }
  }

  private async once(
    method: string,
    path: string,
    body: unknown,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    withKey: boolean,
  ): Promise<Answer> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.o.token}`,
      'content-type': 'application/json',
    };
    if (withKey) headers['x-p3s-pilot-key'] = this.o.key;
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
    const onAbort = () => ac.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const res = await send(
        new URL(`${this.o.server}${path}`),
        method,
        headers,
        JSON.stringify(body),
        ac.signal,
      );
      let parsed: unknown = res.text;
      try {
        parsed = res.text ? JSON.parse(res.text) : undefined;
      } catch {
        // Not JSON (a proxy's error page): keep the text for the message.
      }
      return { status: res.status, body: parsed };
    } catch (err) {
      // Say what happened (a timeout) rather than a bare AbortError.
      if (ac.signal.aborted && !signal?.aborted) throw ac.signal.reason;
      throw err;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }
}

/**
 * One HTTP exchange with node:http(s) rather than fetch: fetch refuses "bad ports" such as
 * 6000 or 10080, and the pilot must talk to whatever port the server was given.
 */
function send(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: string,
  signal: AbortSignal,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = request(
      url,
      { method, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, signal },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('close', () => {
          if (!res.complete) reject(new Error('connection closed mid-answer'));
          else resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function transient(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

function refusal(what: string, a: Answer): string {
  const b = a.body as { message?: unknown; code?: unknown } | undefined;
  const detail = typeof b === 'object' && b ? (b.message ?? b.code) : b;
  return `${what} refused: HTTP ${a.status}${typeof detail === 'string' && detail ? ` ${detail.slice(0, 200)}` : ''}`;
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? err.message;
}
