/**
 * Shedding (docs/design.md §1, §6): when a job type's queue cannot all start before its deadline, drop
 * the lowest-priority, oldest queued jobs now — instead of letting the queue grow until every
 * job waits about the deadline and the ones at the back go stale anyway.
 *
 * The model. A capped type starts jobs at most at rate r = limit / d, where d is the type's
 * observed mean run time: the `free = limit − inFlight` open slots start at once, and each
 * further job waits for a slot, so the job at position k of the dispatch order (priority
 * descending, then FIFO) starts after
 *
 *     wait(k) = 0                     if k < free
 *     wait(k) = (k − free + 1) / r    otherwise.
 *
 * Job j still meets its deadline if wait(pos_j) ≤ slack_j = definedAt_j + deadline − now,
 * i.e. pos_j ≤ cap_j = ⌊slack_j · r⌋ + free − 1. The plan keeps jobs greedily in order of
 * value — priority descending, then **newest first** (fresh data is what DQM shifters need) —
 * and keeps a job only if it and every job already kept still meet their deadlines with it in
 * the queue (keeping a job pushes every kept job behind it in the dispatch order back by one).
 * The rest are dropped. Jobs already past their deadline are left to the reaper (`stale`).
 *
 * What the model does not know: free pilots (it assumes the cap, not the pilots, is the
 * bottleneck) and future arrivals (it never drops on a forecast). Types without a cap,
 * deadline or run-time estimate are never shed.
 */

export interface QueuedJob {
  id: string;
  priority: number;
  /** ISO time the job was queued. */
  definedAt: string;
}

export interface ShedInput {
  jobs: readonly QueuedJob[];
  /** Seconds a job may wait in the queue. */
  deadlineSec: number;
  /** The type's cap on dispatched + running jobs. */
  limit: number;
  inFlight: number;
  /** Mean run time of the type's jobs, seconds. */
  meanRunSec: number;
  nowMs: number;
}

export interface ShedPlan {
  drop: string[];
  keep: number;
  /** Jobs left for the reaper because their deadline has already passed. */
  overdue: number;
  /** Start rate assumed, jobs per second. */
  rate: number;
}

const dispatchOrder = (a: QueuedJob, b: QueuedJob) =>
  b.priority - a.priority || a.definedAt.localeCompare(b.definedAt) || a.id.localeCompare(b.id);

/** Which queued jobs of one type to drop; see the module comment for the model. */
export function planShedding(input: ShedInput): ShedPlan {
  const { deadlineSec, limit, inFlight, meanRunSec, nowMs } = input;
  const empty = { drop: [], keep: input.jobs.length, overdue: 0, rate: 0 };
  if (!(limit > 0) || !(meanRunSec > 0) || !(deadlineSec >= 0) || !input.jobs.length) return empty;
  const rate = limit / meanRunSec;
  const free = Math.max(0, limit - inFlight);

  const live: QueuedJob[] = [];
  let overdue = 0;
  for (const j of input.jobs) {
    if (Date.parse(j.definedAt) + deadlineSec * 1000 < nowMs) overdue++;
    else live.push(j);
  }
  const order = [...live].sort(dispatchOrder);
  const n = order.length;
  const index = new Map(order.map((j, i) => [j.id, i]));
  const cap = order.map((j) => {
    const slackSec = (Date.parse(j.definedAt) + deadlineSec * 1000 - nowMs) / 1000;
    return Math.floor(slackSec * rate + 1e-9) + free - 1;
  });

  // Value order: priority descending, then newest first.
  const byValue = [...live].sort(
    (a, b) => b.priority - a.priority || b.definedAt.localeCompare(a.definedAt) || b.id.localeCompare(a.id),
  );
  const kept = new Fenwick(n);
  // margin[i] = cap[i] − pos[i] for kept jobs (how many more jobs may be put ahead of it).
  const margin = new MinTree(n);
  const drop: string[] = [];
  for (const j of byValue) {
    const i = index.get(j.id)!;
    const pos = kept.prefix(i);
    const own = cap[i]! - pos;
    if (own < 0 || margin.min(i + 1, n) < 1) {
      drop.push(j.id);
      continue;
    }
    margin.set(i, own);
    margin.add(i + 1, n, -1);
    kept.add(i, 1);
  }
  return { drop, keep: n - drop.length, overdue, rate };
}

/** Counts of kept jobs by dispatch index (prefix sums in O(log n)). */
class Fenwick {
  private t: number[];
  constructor(n: number) {
    this.t = new Array(n + 1).fill(0);
  }
  add(i: number, v: number): void {
    for (let x = i + 1; x < this.t.length; x += x & -x) this.t[x]! += v;
  }
  /** Sum of [0, i). */
  prefix(i: number): number {
    let s = 0;
    for (let x = i; x > 0; x -= x & -x) s += this.t[x]!;
    return s;
  }
}

/** Range add, point set, range min — a lazy segment tree; absent entries are +∞. */
class MinTree {
  private min_: number[];
  private lazy: number[];
  constructor(private n: number) {
    const size = 4 * Math.max(1, n);
    this.min_ = new Array(size).fill(Number.POSITIVE_INFINITY);
    this.lazy = new Array(size).fill(0);
  }
  private push(node: number): void {
    const z = this.lazy[node]!;
    if (!z) return;
    for (const c of [2 * node, 2 * node + 1]) {
      this.min_[c]! += z;
      this.lazy[c]! += z;
    }
    this.lazy[node] = 0;
  }
  /** Adds v on [lo, hi). */
  add(lo: number, hi: number, v: number, node = 1, l = 0, r = this.n): void {
    if (hi <= l || r <= lo || lo >= hi) return;
    if (lo <= l && r <= hi) {
      this.min_[node]! += v;
      this.lazy[node]! += v;
      return;
    }
    this.push(node);
    const m = (l + r) >> 1;
    this.add(lo, hi, v, 2 * node, l, m);
    this.add(lo, hi, v, 2 * node + 1, m, r);
    this.min_[node] = Math.min(this.min_[2 * node]!, this.min_[2 * node + 1]!);
  }
  set(i: number, v: number, node = 1, l = 0, r = this.n): void {
    if (r - l === 1) {
      this.min_[node] = v;
      return;
    }
    this.push(node);
    const m = (l + r) >> 1;
    if (i < m) this.set(i, v, 2 * node, l, m);
    else this.set(i, v, 2 * node + 1, m, r);
    this.min_[node] = Math.min(this.min_[2 * node]!, this.min_[2 * node + 1]!);
  }
  /** Minimum on [lo, hi). */
  min(lo: number, hi: number, node = 1, l = 0, r = this.n): number {
    if (hi <= l || r <= lo || lo >= hi) return Number.POSITIVE_INFINITY;
    if (lo <= l && r <= hi) return this.min_[node]!;
    this.push(node);
    const m = (l + r) >> 1;
    return Math.min(this.min(lo, hi, 2 * node, l, m), this.min(lo, hi, 2 * node + 1, m, r));
  }
}
