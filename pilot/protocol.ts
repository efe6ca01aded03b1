/**
 * The pilot's side of docs/protocol.md: the message types are the server's own (`import type`:
 * erased at build time, so nothing of the server runs in the pilot, which needs only Node), and
 * lenient parsers check the server's answers at run time.
 */

import type { Job } from '../shared/core/job/job.ts';
import type { PollAnswerOf, SiteConfig as ServerSiteConfig } from '../shared/core/pilot/api.ts';
import type { PilotAction, PilotRegistration, PilotReport } from '../shared/core/pilot/pilot.ts';

export type Registration = PilotRegistration;

/** Site defaults as the pilot takes them: a server of another version may leave any out. */
export type SiteConfig = Partial<Omit<ServerSiteConfig, 'lifetime'>> & { lifetime?: number };

/** A dispatched job as the pilot receives it: fields beyond `id` are checked again when it is run. */
export type JobOrder = Pick<Job, 'id'> & { [K in 'name' | 'payload' | 'env' | 'timelimit']?: unknown };

export type PollAnswer = PollAnswerOf<JobOrder>;
export type Report = PilotReport;
export type Action = PilotAction;

/** An answer the pilot cannot use; the client treats it like a transient failure and retries. */
export class ProtocolError extends Error {
  readonly code = 'protocol';
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

export function parseRegisterAnswer(body: unknown): SiteConfig {
  if (!isObject(body)) throw new ProtocolError('register answer is not a JSON object');
  const c = isObject(body.config) ? body.config : {};
  const config: SiteConfig = {};
  for (const k of ['beat', 'longpoll', 'period', 'cycles', 'lifetime'] as const) {
    if (isNumber(c[k])) config[k] = c[k];
  }
  if (isObject(c.env)) config.env = stringValues(c.env);
  return config;
}

export function parsePollAnswer(body: unknown): PollAnswer {
  if (!isObject(body)) throw new ProtocolError('poll answer is not a JSON object');
  switch (body.state) {
    case 'dispatched': {
      const job = body.job;
      if (!isObject(job) || typeof job.id !== 'string' || !job.id) {
        throw new ProtocolError('dispatched without a job id');
      }
      return { state: 'dispatched', job: job as unknown as JobOrder };
    }
    case 'no jobs':
      return { state: 'no jobs', retryAfter: isNumber(body.retryAfter) ? body.retryAfter : 0 };
    case 'drain':
    case 'killed':
      return { state: body.state };
    default:
      throw new ProtocolError(`unknown poll state ${JSON.stringify(body.state)}`);
  }
}

export function parseReportAnswer(body: unknown): Action {
  if (!isObject(body)) throw new ProtocolError('report answer is not a JSON object');
  const a = body.action;
  return a === 'killjob' || a === 'drain' || a === 'kill' ? a : 'none';
}

/**
 * A job's or site's env as a string map. The original sent env as a JSON string; accept both.
 * Throws ProtocolError when it is neither an object nor a JSON object string.
 */
export function envMap(raw: unknown): Record<string, string> {
  if (raw === undefined || raw === null || raw === '') return {};
  let v = raw;
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v);
    } catch {
      throw new ProtocolError('env is a string but not JSON');
    }
  }
  if (!isObject(v) || Array.isArray(v)) throw new ProtocolError('env is not an object');
  return stringValues(v);
}

function stringValues(o: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined || v === null) continue;
    out[k] = typeof v === 'string' ? v : JSON.stringify(v);
  }
  return out;
}
