import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';

/**
 * Free ports for a program the test starts, which will listen on them later: `count` consecutive
 * ports, the first returned. They are below the system's ephemeral range. A port the system
 * picked (listen on 0) comes from that range, which it also hands to outgoing connections, and
 * one did take such a port between the check and the program's own listen (EADDRINUSE). Below
 * the range only another listener can take it.
 */
export async function freePorts(count = 1): Promise<number> {
  const ephemeralFrom = Number(
    readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0] ?? 32768,
  );
  const low = Math.max(1024, ephemeralFrom - 12_000);
  for (let i = 0; i < 100; i++) {
    const first = low + Math.floor(Math.random() * (ephemeralFrom - low - count));
    const held: Server[] = [];
    for (let p = first; p < first + count; p++) {
      const s = await listen(p);
      if (!s) break;
      held.push(s);
    }
    await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
    if (held.length === count) return first;
  }
  throw new Error(`no ${count} free consecutive ports below ${ephemeralFrom}`);
}

function listen(port: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(undefined));
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}
