/** Where the clients look for the server when not told: $P3S_SERVER, else the local stack's $P3S_PORT. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Options, parseOptions, UsageError } from '../../pilot/options.ts';
import { target } from '../../scripts/cli/client.ts';

const pilotServer = (env: NodeJS.ProcessEnv) =>
  (parseOptions([], { P3S_TOKEN: 'tok', ...env }) as { options: Options }).options.server;

describe('clients find the local server', () => {
  test('P3S_PORT (what npm start listens on) gives http://127.0.0.1:$P3S_PORT to the CLI and the pilot', () => {
    assert.equal(target({ P3S_PORT: '18090', P3S_TOKEN: 't' }).server, 'http://127.0.0.1:18090');
    assert.equal(pilotServer({ P3S_PORT: '18090' }), 'http://127.0.0.1:18090');
  });

  test('P3S_SERVER wins over P3S_PORT, and --server over both; nothing set: port 8080', () => {
    const env = { P3S_PORT: '18090', P3S_SERVER: 'https://p3s.example.org/' };
    assert.equal(target({ ...env, P3S_TOKEN: 't' }).server, 'https://p3s.example.org');
    assert.equal(pilotServer(env), 'https://p3s.example.org');
    const o = parseOptions(['--server', 'http://h:1'], { P3S_TOKEN: 't', ...env }) as { options: Options };
    assert.equal(o.options.server, 'http://h:1');
    assert.equal(target({ P3S_TOKEN: 't' }).server, 'http://127.0.0.1:8080');
    assert.equal(pilotServer({}), 'http://127.0.0.1:8080');
  });

  test('a P3S_PORT that is not a port is an error naming it, not a silent default', () => {
    assert.throws(
      () => target({ P3S_PORT: 'http://x', P3S_TOKEN: 't' }),
      /P3S_PORT must be the local stack's port/,
    );
    assert.throws(
      () => pilotServer({ P3S_PORT: '0' }),
      (e) => e instanceof UsageError && /P3S_PORT/.test(e.message),
    );
  });
});
