import type { Target } from '../client.ts';
import type { Out } from '../output.ts';

export interface CliContext {
  target(): Target;
  out(): Out;
}
