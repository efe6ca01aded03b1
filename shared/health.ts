/**
 * What the runtime knows is broken, for `GET /healthz`. On Lambda nothing installs a probe (AWS
 * runs the parts); the local stack installs one that reports DynamoDB Local and its stream
 * readers, so a health check names the failing part instead of answering 500.
 */
export interface HealthProblem {
  /** The failing part: `dynamodb`, `stream jobs`, … */
  part: string;
  message: string;
  /** ISO time the problem started. */
  since?: string;
}

let probe: () => HealthProblem[] = () => [];

export function runtimeProblems(): HealthProblem[] {
  return probe();
}

/** Used by the local stack only. */
export function installHealthProbe(p: () => HealthProblem[]): void {
  probe = p;
}
