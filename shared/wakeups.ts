/**
 * Wake-ups for held pilot polls. A poll that finds no work waits for its pilot item to change
 * (the matchmaker assigns it a job, an operator drains it).
 *
 * - On Lambda nothing can be pushed into a running invocation, so `inProcess` is false and the
 *   held poll re-reads its pilot item every P3S_LONGPOLL_CHECK_MS.
 * - The local stack runs every function in one process and installs an in-process
 *   implementation, so a claim wakes the held poll at once. The data still comes from
 *   DynamoDB: a wake-up only says "read your pilot item now".
 */
export interface Wakeups {
  readonly inProcess: boolean;
  notify(key: string): void;
  /** Resolves true when notified, false when `ms` passed first. */
  wait(key: string, ms: number): Promise<boolean>;
  /**
   * Aborted when the client of an HTTP request (by API Gateway request id) went away. Only the
   * local stack can know this; on Lambda there is no such signal (undefined).
   */
  requestGone(requestId: string | undefined): AbortSignal | undefined;
}

const none: Wakeups = {
  inProcess: false,
  notify() {},
  wait: (_key, ms) => new Promise((resolve) => setTimeout(() => resolve(false), ms)),
  requestGone: () => undefined,
};

let current: Wakeups = none;

export function wakeups(): Wakeups {
  return current;
}

/** Used by the local stack only. */
export function installWakeups(w: Wakeups): void {
  current = w;
}

/** "Client gone" signals of the requests the local HTTP server is serving, by request id. */
const requests = new Map<string, AbortSignal>();

/** The local HTTP server registers each request's "client gone" signal; returns the unregister. */
export function trackRequest(requestId: string, signal: AbortSignal): () => void {
  requests.set(requestId, signal);
  return () => requests.delete(requestId);
}

/** The in-process implementation (a map of waiters per key), with the HTTP server's request signals. */
export function inProcessWakeups(): Wakeups {
  const waiters = new Map<string, Set<() => void>>();
  return {
    inProcess: true,
    requestGone: (requestId) => (requestId ? requests.get(requestId) : undefined),
    notify(key) {
      const set = waiters.get(key);
      if (!set) return;
      waiters.delete(key);
      for (const w of set) w();
    },
    wait(key, ms) {
      return new Promise((resolve) => {
        let set = waiters.get(key);
        if (!set) {
          set = new Set();
          waiters.set(key, set);
        }
        const wake = () => {
          clearTimeout(timer);
          resolve(true);
        };
        const timer = setTimeout(() => {
          const s = waiters.get(key);
          s?.delete(wake);
          if (s && s.size === 0) waiters.delete(key);
          resolve(false);
        }, ms);
        set.add(wake);
      });
    },
  };
}

export const pilotKey = (pilotId: string) => `pilot:${pilotId}`;
