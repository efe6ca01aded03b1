import type { HealthProblem } from '../../shared/health.ts';
import type { DynamoExit, DynamoLocal } from './dynamodb-local.ts';

/** A part the stream readers and consumers need: they wait while it is down. */
export interface Dependency {
  readonly up: boolean;
  /** It will not come back: the stack is stopping, or gave up on it. */
  readonly gone: boolean;
  /** Resolves when the part is up (at once when it is), or gone. */
  whenUp(): Promise<void>;
  /** Grows at each outage: a failure that overlapped one is the outage's, not the handler's. */
  readonly generation: number;
}

/** A part that is never down (the tests' shared DynamoDB Local is not the stack's to watch). */
export const alwaysUp: Dependency = { up: true, gone: false, whenUp: () => Promise.resolve(), generation: 0 };

type Log = (msg: string, fields?: Record<string, unknown>) => void;

/** At most this many crashes in CRASH_WINDOW_MS are restarted; then the stack gives up. */
const MAX_CRASHES = 5;
const CRASH_WINDOW_MS = 5 * 60_000;
/** Attempts to start it again after one crash (the port may still be held for a moment). */
const MAX_START_ATTEMPTS = 5;

/**
 * Watches DynamoDB Local for the whole life of the stack. When Java exits unexpectedly:
 * - with data on disk, it is started again on the same port (the functions' endpoint) and data
 *   directory; meanwhile the part is down (readers and consumers wait, `/healthz` says so);
 * - in memory, the data is gone: `onFatal` stops the stack.
 * A crash loop (MAX_CRASHES in five minutes) is fatal too.
 */
export class DynamoSupervisor implements Dependency {
  generation = 0;
  private down?: { since: Date; message: string };
  private waiters: (() => void)[] = [];
  private crashes: number[] = [];
  private stopping = false;
  private failed = false;
  private restarting?: Promise<void>;

  constructor(
    private current: DynamoLocal,
    private o: {
      /** undefined: in memory. */
      dataDir?: string;
      logFile?: string;
      start: (port: number) => Promise<DynamoLocal>;
      log: Log;
      onFatal: (message: string) => void;
    },
  ) {
    this.watch(current);
  }

  get up(): boolean {
    return !this.down;
  }

  get endpoint(): string {
    return this.current.endpoint;
  }

  get pid(): number {
    return this.current.pid;
  }

  get gone(): boolean {
    return this.stopping || this.failed;
  }

  whenUp(): Promise<void> {
    if (!this.down || this.gone) return Promise.resolve();
    return new Promise((r) => this.waiters.push(r));
  }

  problem(): HealthProblem | undefined {
    return (
      this.down && { part: 'dynamodb', message: this.down.message, since: this.down.since.toISOString() }
    );
  }

  /** Stops Java (after a restart in progress, if any); resolves once it has exited. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.release();
    await this.restarting;
    await this.current.stop();
  }

  private fatal(message: string): void {
    this.failed = true;
    this.release();
    this.o.onFatal(message);
  }

  private release(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  private watch(d: DynamoLocal): void {
    void d.exited.then((exit) => {
      if (!this.stopping && d === this.current) this.restarting = this.crashed(d, exit);
    });
  }

  private async crashed(d: DynamoLocal, exit: DynamoExit): Promise<void> {
    this.generation++;
    const since = new Date();
    const what = `DynamoDB Local (pid ${d.pid}) exited unexpectedly (${exit.description})`;
    if (!this.o.dataDir) {
      this.down = { since, message: `${what}; it ran in memory: its data is gone` };
      this.fatal(
        `p3s: ${what}.\nIt ran in memory (--in-memory): every job, pilot and token of this stack is gone. ` +
          'p3s stops; start it again (without --in-memory to keep data across crashes).',
      );
      return;
    }
    this.crashes = [...this.crashes.filter((t) => since.getTime() - t < CRASH_WINDOW_MS), since.getTime()];
    if (this.crashes.length > MAX_CRASHES) {
      this.down = { since, message: `${what}; it crashed ${this.crashes.length} times in 5 minutes` };
      this.fatal(
        `p3s: ${what}, the ${this.crashes.length}th time in 5 minutes: not restarting it again. ` +
          `Its log: ${this.o.logFile ?? '(none)'}. The data in ${this.o.dataDir} is kept.`,
      );
      return;
    }
    this.down = { since, message: `${what}; restarting it (data in ${this.o.dataDir})` };
    this.o.log('DynamoDB Local exited unexpectedly: restarting it', {
      level: 'error',
      pid: d.pid,
      exit: exit.description,
      port: d.port,
      dataDir: this.o.dataDir,
    });
    for (let attempt = 1; !this.stopping; attempt++) {
      try {
        const next = await this.o.start(d.port);
        if (this.stopping) {
          await next.stop();
          return;
        }
        this.current = next;
        this.watch(next);
        this.down = undefined;
        this.o.log('DynamoDB Local restarted', {
          level: 'warn',
          pid: next.pid,
          port: next.port,
          downMs: Date.now() - since.getTime(),
        });
        this.release();
        return;
      } catch (err) {
        if (attempt >= MAX_START_ATTEMPTS) {
          this.fatal(
            `p3s: ${what}, and starting it again failed ${attempt} times: ${(err as Error).message}. ` +
              `The data in ${this.o.dataDir} is kept.`,
          );
          return;
        }
        this.o.log('DynamoDB Local did not start again: retrying', {
          level: 'error',
          attempt,
          err: String((err as Error).message),
        });
        // A stop does not wait for the pause to end.
        await new Promise<void>((r) => {
          const t = setTimeout(r, 500 * 2 ** attempt);
          this.waiters.push(() => {
            clearTimeout(t);
            r();
          });
        });
      }
    }
  }
}
