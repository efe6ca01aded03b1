import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Where one stream consumer (a function on a table's stream) has got to, as Lambda's event
 * source mapping keeps it: per shard, the last sequence number that is done with — its handler
 * succeeded, a filter skipped it, or it was dropped after the retries.
 */
export interface Checkpoint {
  streamArn: string;
  shards: Record<string, string>;
  /**
   * Per shard, the last record of the batch being handled when this was written. A restart
   * hands exactly the records up to there to the function first, so the batch comes again with
   * the same identity (the counters' idempotency token derives from it).
   */
  inflight?: Record<string, string>;
}

/** Sequence numbers are decimal strings whose length varies on AWS: compare them as numbers. */
export function compareSeq(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * One consumer's checkpoint as a JSON file (under `$P3S_HOME/streams/`), replaced atomically by
 * a rename, so a crash at any moment leaves the old or the new one. Without a path (an
 * in-memory stack) nothing is kept.
 */
export class CheckpointFile {
  constructor(readonly path?: string) {}

  load(): Checkpoint | undefined {
    if (!this.path || !existsSync(this.path)) return undefined;
    const text = readFileSync(this.path, 'utf8');
    let c: Checkpoint;
    try {
      c = JSON.parse(text) as Checkpoint;
    } catch (err) {
      throw new Error(`stream checkpoint ${this.path} is not JSON (${(err as Error).message}): remove it`);
    }
    const seqs = (o: unknown) =>
      !!o && typeof o === 'object' && Object.values(o).every((v) => typeof v === 'string' && /^\d+$/.test(v));
    if (
      typeof c?.streamArn !== 'string' ||
      !seqs(c.shards) ||
      (c.inflight !== undefined && !seqs(c.inflight))
    )
      throw new Error(`stream checkpoint ${this.path} is malformed: remove it`);
    return c;
  }

  save(c: Checkpoint): void {
    if (!this.path) return;
    const tmp = `${this.path}.tmp`;
    try {
      writeFileSync(tmp, JSON.stringify(c));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      mkdirSync(dirname(this.path), { recursive: true });
      writeFileSync(tmp, JSON.stringify(c));
    }
    renameSync(tmp, this.path);
  }
}
