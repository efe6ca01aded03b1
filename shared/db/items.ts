import type { Job } from '../core/job/job.ts';
import type { Pilot } from '../core/pilot/pilot.ts';

/** Internal attributes (index keys, TTL) that never leave the repositories. */
const INTERNAL = ['qpk', 'qsk', 'ipk', 'isk', 'lpk', 'ttl', 'keyHash', 'killJobId'] as const;

function strip<T>(item: Record<string, unknown>): T {
  const out: Record<string, unknown> = { ...item };
  for (const k of INTERNAL) delete out[k];
  return out as T;
}

export const toJob = (item: Record<string, unknown>): Job => strip<Job>(item);
export const toPilot = (item: Record<string, unknown>): Pilot => strip<Pilot>(item);

/** Listing partition: one per creation day, so "newest first" is a Query, not a Scan. */
export const dayPartition = (prefix: string, iso: string) => `${prefix}#${iso.slice(0, 10)}`;
