/**
 * Lines of the XRootD `ofs.notify closew |prog` pipe.
 *
 * XRootD writes the `ofs.notifymsg` text with the variables substituted as they are: a file
 * name (LFN) may hold spaces, `key=value`, `\r`, bytes that are not UTF-8, and even `\n`
 * (XRootD 5 accepts all of them), and nothing is escaped. So a name can forge fields of a
 * line — or whole lines — unless the line carries something a name cannot: a secret key,
 * known to XRootD's config and the hook, at both ends of the line. The recommended message is
 *
 *     ofs.notifymsg closew KEY closew $FSIZE $LFN KEY
 *
 * → `KEY closew 1048576 /data/run1/f 1.root KEY`. A name cannot end a line early (the piece
 * before its `\n` lacks the closing key) nor start a line (the piece after it lacks the
 * opening key), and within the line the LFN is everything between the size and the closing
 * key, so spaces and `key=value` are just part of the name. A message XRootD cut short (names
 * over ~1.3 KB) loses its closing key and is refused too.
 *
 * Without a key the two older messages are still understood where they are unambiguous:
 *
 * - `closew $LFN size=$FSIZE tid=$TID` (tid optional) → read from the right: the LFN is
 *   everything before the last ` size=N[ tid=T]`, so ` x=1 size=10` inside a name stays in it;
 * - XRootD's default `<tid> closew <lfn>` → the LFN is everything after `closew `.
 *
 * A bare `closew <lfn>` is refused (it is what the first piece of a name with a newline looks
 * like). These formats cannot tell a newline inside a name from the end of a line: a name
 * holding `\n` followed by a well-formed line forges a notification. Hence the key.
 */

/** A key: 16–128 letters, digits, `_` or `-` (no spaces, nothing XRootD would substitute). */
export const NOTIFY_KEY = /^[A-Za-z0-9_-]{16,128}$/;

type NotifyFormat = 'keyed' | 'legacy' | 'default';

export type NotifyLine =
  | { ok: true; format: NotifyFormat; lfn: string; size?: number; tid?: string }
  | { ok: false; reason: string };

const LEGACY = /^closew (\/.*) size=(\d+)(?: tid=(\S*))?$/s;
const DEFAULT = /^(\S+) closew (\/.*)$/s;
const KEYED_BODY = /^closew (\d+) (\/.*)$/s;

/**
 * Parses one line (without its `\n`; already valid UTF-8). With `key`, only keyed lines are
 * accepted: anything else is a forgery, a cut message or a config that does not match.
 */
export function parseNotifyLine(line: string, opts: { key?: string } = {}): NotifyLine {
  if (!line.trim()) return { ok: false, reason: 'empty line' };
  const { key } = opts;
  if (key) {
    if (!line.startsWith(`${key} `))
      return {
        ok: false,
        reason:
          'does not start with the key: not the keyed ofs.notifymsg, or the rest of a name with a newline',
      };
    if (!line.endsWith(` ${key}`) || line.length < 2 * key.length + 2)
      return {
        ok: false,
        reason: 'does not end with the key: a name with a newline in it, or a message XRootD cut short',
      };
    const m = KEYED_BODY.exec(line.slice(key.length + 1, line.length - key.length - 1));
    if (!m) return { ok: false, reason: 'between the keys, expected "closew <size> <absolute path>"' };
    return { ok: true, format: 'keyed', lfn: m[2]!, size: Number(m[1]) };
  }
  const legacy = LEGACY.exec(line);
  if (legacy) return { ok: true, format: 'legacy', lfn: legacy[1]!, size: Number(legacy[2]), tid: legacy[3] };
  const dflt = DEFAULT.exec(line);
  if (dflt && dflt[1] !== 'closew') return { ok: true, format: 'default', lfn: dflt[2]!, tid: dflt[1] };
  if (/^closew \/./s.test(line))
    return {
      ok: false,
      reason: 'closew with neither " size=N" after the name nor a tid before "closew": ambiguous',
    };
  if (/^([A-Za-z0-9_-]{16,128}) closew \d+ \/.* \1$/s.test(line))
    return { ok: false, reason: 'a keyed line, but this hook has no key (--key-file or $P3S_XROOTD_KEY)' };
  if (!/(^|\s)closew\s/.test(line)) return { ok: false, reason: 'not a closew line' };
  if (/\sclosew \//.test(line)) return { ok: false, reason: 'more than a tid before closew' };
  return { ok: false, reason: 'no absolute path after closew' };
}

/**
 * The location of a closed file: `<urlPrefix><lfn>` (`root://host:port/` + `/data/x` →
 * `root://host:port//data/x`), or `<localRoot><lfn>` when the payloads read the server's disk.
 */
export function notifyLocation(lfn: string, opts: { urlPrefix?: string; localRoot?: string }): string {
  if (opts.localRoot) return `${opts.localRoot.replace(/\/+$/, '')}${lfn}`;
  if (!opts.urlPrefix) throw new Error('give a URL prefix (root://host:port/) or a local root');
  return `${opts.urlPrefix.replace(/\/+$/, '')}/${lfn}`;
}

/** The notifymsg line for a key, as it goes into the XRootD config. */
export function notifyMsgLine(key: string): string {
  return `ofs.notifymsg closew ${key} closew $FSIZE $LFN ${key}`;
}

/**
 * Splits a byte stream into lines at `\n` only (a `\r` is part of a name, not a line end).
 * Lines longer than `maxLine` bytes are cut off and reported as such.
 */
export class LineSplitter {
  private parts: Buffer[] = [];
  private length = 0;
  private overlong = false;

  constructor(private maxLine = 64 * 1024) {}

  /** The complete lines in `chunk` (with what was held back before); keeps the rest. */
  push(chunk: Buffer): ({ line: Buffer } | { overlong: number })[] {
    const out: ({ line: Buffer } | { overlong: number })[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      const end = nl < 0 ? chunk.length : nl;
      this.take(chunk.subarray(start, end));
      if (nl < 0) break;
      out.push(this.overlong ? { overlong: this.length } : { line: Buffer.concat(this.parts) });
      this.parts = [];
      this.length = 0;
      this.overlong = false;
      start = nl + 1;
    }
    return out;
  }

  /** What is left at end of input (a last line without `\n`), if anything. */
  end(): ({ line: Buffer } | { overlong: number })[] {
    if (!this.length && !this.overlong) return [];
    const last = this.overlong ? { overlong: this.length } : { line: Buffer.concat(this.parts) };
    this.parts = [];
    this.length = 0;
    this.overlong = false;
    return [last];
  }

  private take(bytes: Buffer): void {
    this.length += bytes.length;
    if (this.overlong) return;
    if (this.length > this.maxLine) {
      this.overlong = true;
      this.parts = [];
      return;
    }
    if (bytes.length) this.parts.push(Buffer.from(bytes));
  }
}
