/** XRootD closew lines under hostile file names (pure: the parser and the line splitter). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  LineSplitter,
  NOTIFY_KEY,
  notifyLocation,
  notifyMsgLine,
  parseNotifyLine,
} from '../../shared/core/data/xrootd.ts';

const KEY = 'k3y_0123456789abcdefXYZ';

/** What XRootD writes for one closed file with the keyed message: no escaping at all. */
const keyed = (lfn: string, size: number) => `${KEY} closew ${size} ${lfn} ${KEY}\n`;

/** The notifications the hook would accept from a byte stream. */
function accepted(stream: string, key?: string): { lfn: string; size?: number }[] {
  const splitter = new LineSplitter();
  const out: { lfn: string; size?: number }[] = [];
  for (const r of [...splitter.push(Buffer.from(stream)), ...splitter.end()]) {
    if (!('line' in r)) continue;
    const ev = parseNotifyLine(r.line.toString('utf8'), { key });
    if (ev.ok) out.push({ lfn: ev.lfn, size: ev.size });
  }
  return out;
}

describe('the keyed notifymsg', () => {
  test('a plain line', () => {
    assert.deepEqual(parseNotifyLine(`${KEY} closew 1048576 /data/run1/f.root ${KEY}`, { key: KEY }), {
      ok: true,
      format: 'keyed',
      lfn: '/data/run1/f.root',
      size: 1048576,
    });
    assert.equal(notifyMsgLine(KEY), `ofs.notifymsg closew ${KEY} closew $FSIZE $LFN ${KEY}`);
    assert.ok(NOTIFY_KEY.test(KEY));
  });

  test('spaces, key=value, a \\r and the key word "closew" inside a name are part of the name', () => {
    for (const lfn of [
      '/data/run9.root x=1 size=10 tid=z',
      '/data/a b/c d.root',
      '/data/cr\rname.root',
      '/data/closew 5 /data/other.root',
      `/data/${KEY} closew 1 /x`,
    ])
      assert.deepEqual(accepted(keyed(lfn, 6), KEY), [{ lfn, size: 6 }], JSON.stringify(lfn));
  });

  test('a name with a newline forging a whole line registers nothing, not even its own pieces', () => {
    const forged = `/data/junk\n${KEY.slice(0, 5)} closew 10 /data/run9.root ${KEY.slice(0, 5)}`;
    assert.deepEqual(accepted(keyed(forged, 6), KEY), []);
    // Even knowing the format, a name cannot end or start a line: both need the key.
    assert.deepEqual(accepted(keyed('/data/run9.root\nclosew 10 /data/x', 6), KEY), []);
  });

  test('a message XRootD cut short (no closing key) is refused, saying why', () => {
    const r = parseNotifyLine(`${KEY} closew 6 /data/very/long/na`, { key: KEY });
    assert.equal(r.ok, false);
    assert.match((r as { reason: string }).reason, /does not end with the key/);
  });

  test('with a key, the legacy lines are refused (they can only be forgeries or a config mismatch)', () => {
    for (const line of ['closew /data/x.root size=1 tid=t', 'u.1:2@h closew /data/x.root']) {
      const r = parseNotifyLine(line, { key: KEY });
      assert.equal(r.ok, false, line);
      assert.match((r as { reason: string }).reason, /does not start with the key/);
    }
  });

  test('property: whatever the names, nothing is accepted but the real files, and never a piece of a name', () => {
    const nameChar = fc.constantFrom(
      'a',
      'Z',
      '/',
      ' ',
      '=',
      '\n',
      '\r',
      '.',
      'é',
      '1',
      'closew ',
      `${KEY} `,
    );
    const lfn = fc.array(nameChar, { maxLength: 12 }).map((cs) => `/d/${cs.join('')}`);
    fc.assert(
      fc.property(fc.array(fc.tuple(lfn, fc.nat()), { minLength: 1, maxLength: 5 }), (files) => {
        const stream = files.map(([l, n]) => keyed(l, n)).join('');
        const real = files.filter(([l]) => !l.includes('\n')).map(([l, n]) => ({ lfn: l, size: n }));
        assert.deepEqual(accepted(stream, KEY), real);
      }),
    );
  });
});

describe('the legacy messages (no key)', () => {
  test('closew $LFN size=$FSIZE tid=$TID is read from the right: the name keeps its " x=1 size=10"', () => {
    assert.deepEqual(parseNotifyLine('closew /data/run9.root x=1 size=10 tid=z size=6 tid=root.1:2@h'), {
      ok: true,
      format: 'legacy',
      lfn: '/data/run9.root x=1 size=10 tid=z',
      size: 6,
      tid: 'root.1:2@h',
    });
    assert.deepEqual(parseNotifyLine('closew /data/run1/b c.txt size=6'), {
      ok: true,
      format: 'legacy',
      lfn: '/data/run1/b c.txt',
      size: 6,
      tid: undefined,
    });
  });

  test("XRootD's default message (tid first, no size)", () => {
    assert.deepEqual(parseNotifyLine('root.13905:24@[::ffff:127.0.0.1] closew /data/run1/a size=1.txt'), {
      ok: true,
      format: 'default',
      lfn: '/data/run1/a size=1.txt',
      tid: 'root.13905:24@[::ffff:127.0.0.1]',
    });
  });

  test('a lone \\r no longer splits a line: it stays in the name', () => {
    assert.deepEqual(accepted('closew /data/cr\rname.root size=6 tid=t\n'), [
      { lfn: '/data/cr\rname.root', size: 6 },
    ]);
  });

  for (const [line, why] of [
    ['', /empty/],
    ['   ', /empty/],
    ['garbage', /not a closew line/],
    ['create /data/x', /not a closew line/],
    ['closew relative/x size=1', /no absolute path/],
    ['closew /data/x', /ambiguous/],
    ['closew /data/x size=big', /ambiguous/],
    ['closew /data/x size=1 junk', /ambiguous/],
    ['a b closew /data/x', /more than a tid/],
    [`${KEY} closew 6 /data/x ${KEY}`, /a keyed line, but this hook has no key/],
  ] as const) {
    test(`"${line}" is refused (${why.source})`, () => {
      const r = parseNotifyLine(line);
      assert.equal(r.ok, false);
      assert.match((r as { reason: string }).reason, why);
    });
  }

  test('their limit, and why the key: a name with a newline can forge a legacy line', () => {
    const name = '/data/x size=1 tid=a\nclosew /data/run9.root';
    assert.deepEqual(accepted(`closew ${name} size=6 tid=t\n`), [
      { lfn: '/data/x', size: 1 },
      { lfn: '/data/run9.root', size: 6 },
    ]);
  });
});

describe('lines and locations', () => {
  test('the splitter cuts at \\n only, across chunks, and reports an overlong line without keeping it', () => {
    const s = new LineSplitter(10);
    assert.deepEqual(s.push(Buffer.from('ab\rc')), []);
    assert.deepEqual(
      s.push(Buffer.from('d\n0123456789abc\nok\n')).map((r) => ('line' in r ? r.line.toString() : r)),
      ['ab\rcd', { overlong: 13 }, 'ok'],
    );
    assert.deepEqual(
      s.push(Buffer.from([0x66, 0xff])).length === 0 && s.end().map((r) => ('line' in r ? [...r.line] : r)),
      [[0x66, 0xff]],
    );
  });

  test('a location from a URL prefix or a local root', () => {
    assert.equal(
      notifyLocation('/data/f.root', { urlPrefix: 'root://127.0.0.1:11094/' }),
      'root://127.0.0.1:11094//data/f.root',
    );
    assert.equal(notifyLocation('/data/f.root', { localRoot: '/srv/xrd/' }), '/srv/xrd/data/f.root');
  });
});
