/**
 * How a pilot is told to stop. Soft (first SIGTERM/SIGINT, parent gone): take no more work,
 * abort a held poll, give the running payload its grace. Hard (second signal, shutdown taking
 * too long): kill the payload now and stop retrying reports after one more attempt.
 */
export class Stopper {
  private readonly softAc = new AbortController();
  private readonly hardAc = new AbortController();
  private why: string | undefined;

  get reason(): string | undefined {
    return this.why;
  }
  get soft(): AbortSignal {
    return this.softAc.signal;
  }
  get hard(): AbortSignal {
    return this.hardAc.signal;
  }

  stop(reason: string): void {
    this.why ??= reason;
    this.softAc.abort();
  }

  stopNow(reason: string): void {
    this.stop(reason);
    this.hardAc.abort();
  }
}
