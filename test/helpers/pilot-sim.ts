import { randomBytes, randomUUID } from 'node:crypto';
import type { TestStack } from './stack.ts';

/** A simulated pilot: speaks the pilot protocol over HTTP, runs nothing. */
export class SimPilot {
  readonly id = randomUUID();
  readonly key = randomBytes(24).toString('base64url');
  constructor(
    private s: TestStack,
    readonly opts: { site?: string; host?: string; token?: string } = {},
  ) {}

  private headers() {
    return { 'x-p3s-pilot-key': this.key };
  }

  private token() {
    return this.opts.token ?? this.s.pilotToken;
  }

  register() {
    return this.s.call('POST', '/pilots', {
      token: this.token(),
      body: { id: this.id, key: this.key, host: this.opts.host ?? 'wn01', site: this.opts.site, pid: 1 },
    });
  }

  poll(wait = 0) {
    return this.s.call('POST', `/pilots/${this.id}/poll`, {
      token: this.token(),
      headers: this.headers(),
      body: { wait },
    });
  }

  report(body: Record<string, unknown>) {
    return this.s.call('POST', `/pilots/${this.id}/report`, {
      token: this.token(),
      headers: this.headers(),
      body,
    });
  }
}
