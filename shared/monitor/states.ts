import { WorkflowState } from '../core/dag/advance.ts';
import { JobState } from '../core/job/job.ts';
import { PilotState } from '../core/pilot/pilot.ts';

/**
 * Colours of states, shared by the badges in tables (CSS generated from this map) and the DAG
 * drawing, so a state looks the same everywhere. Light fills with dark text keep contrast
 * above 7:1; the state's name is always printed too, so colour is never the only cue.
 */
export const STATE_FILL: Readonly<Record<string, string>> = {
  // jobs
  template: '#e5e7eb',
  defined: '#bfdbfe',
  dispatched: '#c7d2fe',
  running: '#fde68a',
  finished: '#bbf7d0',
  failed: '#fecaca',
  timelimit: '#fed7aa',
  pilotTO: '#fbcfe8',
  stale: '#e7e5e4',
  dropped: '#d4d4d8',
  killed: '#fca5a5',
  cancelled: '#cbd5e1',
  nonstarter: '#fda4af',
  // pilots
  active: '#bfdbfe',
  waiting: '#e0f2fe',
  stopped: '#e5e7eb',
  timeout: '#fbcfe8',
};
const UNKNOWN_FILL = '#ffffff';

export const fillOf = (state: string | undefined): string =>
  (state && Object.hasOwn(STATE_FILL, state) ? STATE_FILL[state] : undefined) ?? UNKNOWN_FILL;

/** A CSS class name for a state (states are enum values, but the class is sanitised anyway). */
export const stateClass = (state: string | undefined): string =>
  `s-${(state ?? 'unknown').replace(/[^A-Za-z0-9_-]/g, '_')}`;

export const JOB_STATES: readonly string[] = JobState.options;
export const PILOT_STATES: readonly string[] = PilotState.options;
export const WORKFLOW_STATES: readonly string[] = WorkflowState.options;
