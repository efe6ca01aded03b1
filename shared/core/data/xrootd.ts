/**
 * Lines of the XRootD `ofs.notify closew |prog` pipe. Two shapes are understood:
 *
 * - the recommended `ofs.notifymsg closew closew $LFN size=$FSIZE tid=$TID` →
 *   `closew /data/run1/file1.root size=1048576 tid=user.1:23@host`
 * - XRootD's default message → `user.1:23@host closew /data/run1/file1.root`
 *
 * The LFN is everything after the event word up to the first `key=value` token, so names
 * with spaces survive.
 */

export type NotifyLine =
  | { ok: true; event: 'closew'; lfn: string; size?: number; tid?: string }
  | { ok: false; reason: string };

export function parseNotifyLine(line: string): NotifyLine {
  const text = line.replace(/\r$/, '').trim();
  if (!text) return { ok: false, reason: 'empty line' };
  const ev = /(^|\s)closew(\s|$)/.exec(text);
  if (!ev) return { ok: false, reason: `no closew event in "${text.slice(0, 200)}"` };
  const before = text.slice(0, ev.index).trim().split(/\s+/).filter(Boolean);
  if (before.length > 1)
    return { ok: false, reason: `unexpected words before closew in "${text.slice(0, 200)}"` };
  let tid = before[0];
  const rest = text.slice(ev.index + ev[0].length).trim();
  const kv = /\s[A-Za-z_]+=\S*/.exec(` ${rest}`);
  const lfn = (kv ? rest.slice(0, kv.index - 1) : rest).trim();
  if (!lfn.startsWith('/'))
    return { ok: false, reason: `no absolute path after closew in "${text.slice(0, 200)}"` };
  let size: number | undefined;
  if (kv) {
    for (const pair of rest.slice(kv.index).trim().split(/\s+/)) {
      const eq = pair.indexOf('=');
      if (eq < 0) return { ok: false, reason: `"${pair}" is not key=value` };
      const k = pair.slice(0, eq);
      const v = pair.slice(eq + 1);
      if (k === 'size') {
        if (!/^\d+$/.test(v)) return { ok: false, reason: `size=${v} is not a byte count` };
        size = Number(v);
      } else if (k === 'tid') tid = v;
    }
  }
  return { ok: true, event: 'closew', lfn, size, tid };
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
