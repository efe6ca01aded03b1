/**
 * File names as the data sources meet them: raw bytes from a directory or an XRootD pipe, which
 * need not be UTF-8 and may hold control characters. A name is shown to people escaped (one
 * line, no terminal control sequences, every byte recoverable), and a name that cannot be
 * registered is refused with the reason rather than altered.
 */
import { isUtf8 } from 'node:buffer';

/**
 * One line, in double quotes: printable characters as they are; `\n`, `\r`, `\t`, `\"`, `\\`
 * escaped; other control characters as `\u00XX`; bytes that are not UTF-8 as `\xXX`.
 */
export function escapeName(name: string | Uint8Array): string {
  const text = typeof name === 'string' ? name : decodeKeepingBadBytes(name);
  let out = '"';
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c >= 0xdc80 && c <= 0xdcff) out += `\\x${(c - 0xdc00).toString(16).padStart(2, '0')}`;
    else if (c < 0x20 || (c >= 0x7f && c < 0xa0) || c === 0x2028 || c === 0x2029)
      out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/**
 * UTF-8 text of `bytes`, where each byte of an invalid sequence becomes the lone surrogate
 * U+DC80+byte (as Python's `surrogateescape`), so `escapeName` can show it as `\xXX`.
 */
function decodeKeepingBadBytes(bytes: Uint8Array): string {
  if (isUtf8(bytes)) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  let out = '';
  let i = 0;
  while (i < bytes.length) {
    const n = utf8SequenceLength(bytes, i);
    if (n > 0) {
      out += Buffer.from(bytes.subarray(i, i + n)).toString('utf8');
      i += n;
    } else {
      out += String.fromCharCode(0xdc00 + (bytes[i] as number));
      i++;
    }
  }
  return out;
}

/** Length of the valid UTF-8 sequence starting at `i`, or 0 if there is none. */
function utf8SequenceLength(b: Uint8Array, i: number): number {
  for (const n of [1, 2, 3, 4]) if (i + n <= b.length && isUtf8(b.subarray(i, i + n))) return n;
  return 0;
}

export type DecodedName = { ok: true; name: string } | { ok: false; reason: string };

/** The name as text, or why it cannot be registered (a location is UTF-8 text). */
export function decodeName(bytes: Uint8Array): DecodedName {
  if (!isUtf8(bytes)) return { ok: false, reason: 'the name is not valid UTF-8' };
  return { ok: true, name: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8') };
}
