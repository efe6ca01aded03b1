/**
 * A stand-in for the p3s server's pilot endpoints (docs/protocol.md), for the pilot's own
 * tests: it hands out scripted jobs, records every request, and lets a test answer any
 * request its own way. Not the real server: that is tested in integration and e2e.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Recorded {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: any;
}

export interface Answer {
  status: number;
  body?: unknown;
  /** Raw text instead of JSON. */
  text?: string;
}

/** Returns an answer, or undefined to fall through to the default behaviour. */
type Override = (req: Recorded) => Answer | undefined | Promise<Answer | undefined>;

export interface FakeServer {
  url: string;
  requests: Recorded[];
  /** Bodies of POST /pilots/{id}/report, in arrival order. */
  reports: any[];
  /** Jobs handed out by polls, first come first served. */
  jobs: any[];
  config: Record<string, unknown>;
  override?: Override;
  /** How long a poll without work is held, ms (the pilot's `wait` is not honoured). */
  holdMs: number;
  close(): Promise<void>;
}

export async function startFakeServer(): Promise<FakeServer> {
  const fake: FakeServer = {
    url: '',
    requests: [],
    reports: [],
    jobs: [],
    config: { beat: 5, longpoll: 20, period: 5, cycles: 0, lifetime: 90000, env: {} },
    holdMs: 0,
    close: async () => {},
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const rec: Recorded = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: text ? JSON.parse(text) : undefined,
      };
      fake.requests.push(rec);
      if (/\/report$/.test(rec.path)) fake.reports.push(rec.body);
      const a = (await fake.override?.(rec)) ?? (await defaults(fake, rec));
      if (res.destroyed) return;
      res.writeHead(a.status, { 'content-type': a.text !== undefined ? 'text/html' : 'application/json' });
      res.end(a.text ?? JSON.stringify(a.body ?? {}));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return fake;
}

async function defaults(fake: FakeServer, rec: Recorded): Promise<Answer> {
  if (rec.path === '/pilots')
    return { status: 201, body: { pilot: { id: rec.body.id }, config: fake.config } };
  if (rec.path.endsWith('/poll')) {
    const job = fake.jobs.shift();
    if (job) return { status: 200, body: { state: 'dispatched', job } };
    if (fake.holdMs > 0) await new Promise((r) => setTimeout(r, fake.holdMs));
    return { status: 200, body: { state: 'no jobs', retryAfter: 0 } };
  }
  if (rec.path.endsWith('/report')) return { status: 200, body: { status: 'ok', action: 'none' } };
  return { status: 404, body: { code: 'not_found' } };
}

/** Waits for a condition, polling; fails the test at the deadline instead of hanging. */
export async function until(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The events of the reports received, in order. */
export const events = (fake: FakeServer): string[] => fake.reports.map((r) => r.event);
