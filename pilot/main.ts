/**
 * `p3s-pilot`: argv → options → one pilot, N child-process pilots (--count N), or N pilot
 * loops in this process (--count N --in-process). Nothing else lives here but signal wiring: the first SIGTERM/SIGINT stops gracefully, the second (or a
 * shutdown that overruns) stops now, and on any exit no payload is left running.
 */
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { runPilot } from './agent.ts';
import { runFleet } from './fleet.ts';
import { createLogger } from './log.ts';
import { type Options, parseOptions, USAGE, UsageError } from './options.ts';
import { killAllNow } from './payload.ts';
import { Stopper } from './stopper.ts';
import { VERSION } from './version.ts';

/** Time left for reports after the payload's grace and kill grace, once a stop is asked for. */
const REPORT_GRACE_S = 30;

async function main(argv: string[]): Promise<number> {
  let command: ReturnType<typeof parseOptions>;
  try {
    command = parseOptions(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`p3s-pilot: ${err.message}\n(p3s-pilot --help for usage)\n`);
    return 2;
  }
  if (command.kind === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (command.kind === 'version') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const o = command.options;
  if (o.count > 1 && !o.inProcess) {
    return runFleet(o.count, argv, createLogger({ level: o.logLevel, json: o.json }));
  }
  return runHere(o, o.inProcess ? o.count : 1);
}

/** `count` pilots as loops of this process, sharing its signals. */
async function runHere(o: Options, count: number): Promise<number> {
  process.on('exit', killAllNow);
  const stop = new Stopper();
  // Each pilot loop listens on the shared stop signals (a request, a pause, a payload): that is
  // not a leak, so lift node's warning threshold of 10 listeners per signal.
  setMaxListeners(count * 4 + 10, stop.soft, stop.hard);
  const log = createLogger({ level: o.logLevel, json: o.json });
  const ask = (reason: string) => {
    if (!stop.soft.aborted) {
      log.info(`${reason}: taking no more work`);
      stop.stop(reason);
      const overrun = () => stop.stopNow(`${reason}, shutdown overran`);
      setTimeout(overrun, (o.grace + o.killGrace + REPORT_GRACE_S) * 1000).unref();
    } else {
      log.warn(`${reason} again: stopping now`);
      stop.stopNow(reason);
    }
  };
  process.on('SIGTERM', () => ask('SIGTERM'));
  process.on('SIGINT', () => ask('SIGINT'));
  if (process.send) {
    // Started by --count: when the parent goes, so do we.
    process.on('disconnect', () => ask('parent pilot gone'));
    process.channel?.unref();
  }

  const one = async () => {
    const id = randomUUID();
    const plog = createLogger({ level: o.logLevel, json: o.json, tag: () => id });
    if (o.pilotlog) plog.toFile(o.pilotlog, id);
    try {
      return await runPilot(o, { stop, log: plog, id });
    } finally {
      plog.close();
    }
  };
  const codes = await Promise.all(Array.from({ length: count }, one));
  return codes.find((c) => c !== 0) ?? 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`p3s-pilot: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);
