import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { globMatches } from '../../shared/core/data/glob.ts';
import { type FileFacts, RuleInput, ruleMatches, windowStart } from '../../shared/core/data/rule.ts';
import { sampledIn, sampleValue } from '../../shared/core/data/sampling.ts';
import { parseDuration, parseSize } from '../../shared/core/data/units.ts';

const fixture = (name: string) =>
  JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'data', name), 'utf8'));

const file = (over: Partial<FileFacts> = {}): FileFacts => ({
  location: '/data/input/np04_raw_run001_0001.root',
  name: 'np04_raw_run001_0001.root',
  size: 4000 * 1024 ** 2,
  datatype: 'ROOT',
  source: 'watch',
  ...over,
});

describe('rule format', () => {
  test('a rule with the original job list as action is accepted and normalised', () => {
    const r = RuleInput.parse(fixture('rule-hitmonitor.json'));
    assert.equal(r.enabled, true);
    assert.equal(r.dedupe, 'location');
    assert.deepEqual(r.match.source, ['xrootd', 'watch']);
    assert.equal(r.match.minSize, 3900 * 1024 ** 2);
    assert.deepEqual(r.limit, { files: 3, window: 1200 });
    assert.ok('jobs' in r.action);
    assert.equal(r.action.jobs[0]!.timelimit, 100, 'the original `timeout` key becomes timelimit');
    assert.equal(r.action.jobs[0]!.priority, 1);
  });

  test('a workflow action is stored with its dag, fileinfo and jobinfo', () => {
    const r = RuleInput.parse(fixture('rule-workflow.json'));
    assert.deepEqual(r.action, {
      workflow: { dag: '1filter', fileinfo: 'sticky', jobinfo: { filter: { env: { LEVEL: '2' } } } },
    });
  });

  const job = { name: 'j', jobtype: 'dqm', payload: '/bin/true' };
  for (const [what, body, path] of [
    [
      'a bad job in the list',
      { name: 'r', action: [{ ...job, jobtype: 'bad type!' }] },
      ['action', 0, 'jobtype'],
    ],
    [
      'a job without a payload',
      { name: 'r', action: [{ name: 'j', jobtype: 'dqm' }] },
      ['action', 0, 'payload'],
    ],
    ['an action of neither kind', { name: 'r', action: { run: 'x' } }, ['action']],
    ['a bad regex', { name: 'r', action: [job], match: { regex: '(' } }, ['match', 'regex']],
    ['a bad size', { name: 'r', action: [job], match: { minSize: '12 parsecs' } }, ['match', 'minSize']],
    ['an unknown source', { name: 'r', action: [job], match: { source: 'ftp' } }, ['match', 'source']],
    ['sampling above 1', { name: 'r', action: [job], sampling: 2 }, ['sampling']],
    ['a workflow without dag', { name: 'r', action: { workflow: {} } }, ['action', 'workflow', 'dag']],
    ['a limit without files', { name: 'r', action: [job], limit: { window: 60 } }, ['limit', 'files']],
    ['a bad name', { name: 'a b', action: [job] }, ['name']],
  ] as const) {
    test(`${what} is refused naming the field`, () => {
      const r = RuleInput.safeParse(body);
      assert.equal(r.success, false);
      assert.deepEqual(r.error!.issues[0]!.path, path, JSON.stringify(r.error!.issues));
    });
  }
});

describe('rule matching', () => {
  test('every given condition must hold', () => {
    const m = RuleInput.parse(fixture('rule-hitmonitor.json')).match;
    assert.equal(ruleMatches(m, file()), true);
    assert.equal(ruleMatches(m, file({ name: 'np04_raw_run001.txt' })), false, 'pattern');
    assert.equal(ruleMatches(m, file({ size: 100 })), false, 'min size');
    assert.equal(ruleMatches(m, file({ size: undefined })), false, 'unknown size never passes a min size');
    assert.equal(ruleMatches(m, file({ source: 's3' })), false, 'source');
  });

  test('an empty match matches every file', () => {
    assert.equal(ruleMatches({}, file({ source: 'api', size: undefined, datatype: undefined })), true);
  });

  test('datatype, regex and location prefix', () => {
    assert.equal(ruleMatches({ datatype: ['ROOT', 'TXT'] }, file()), true);
    assert.equal(ruleMatches({ datatype: ['TXT'] }, file()), false);
    assert.equal(ruleMatches({ datatype: ['TXT'] }, file({ datatype: undefined })), false);
    assert.equal(ruleMatches({ regex: '_run0+1_' }, file()), true);
    assert.equal(ruleMatches({ under: '/data/input/' }, file()), true);
    assert.equal(ruleMatches({ under: '/data/other/' }, file()), false);
  });

  test('globs: * ? [] {} on names, never across /', () => {
    assert.equal(globMatches('np04*.root', 'np04_raw.root'), true);
    assert.equal(globMatches('*.{txt,dat}', 'a.dat'), true);
    assert.equal(globMatches('*.{txt,dat}', 'a.root'), false);
    assert.equal(globMatches('run?.txt', 'run1.txt'), true);
    assert.equal(globMatches('run[!0-4].txt', 'run3.txt'), false);
    assert.equal(globMatches('run[!0-4].txt', 'run7.txt'), true);
    assert.equal(globMatches('*', 'a/b'), false);
    assert.equal(globMatches('a.b', 'aXb'), false, 'a dot is literal');
    assert.equal(globMatches('(x)+', '(x)+'), true, 'regex characters are literal');
  });
});

describe('sampling', () => {
  // Fixed vectors, computed once from the code (sha256 of the UTF-8 name, first 48 bits / 2^48):
  // a replay in another process, after a restart or by a later release must decide the same, so
  // a salt, another hash, another encoding or hashing the location instead of the name fails here.
  const FRACTIONS = [0.1, 0.25, 0.5, 0.9];
  const VECTORS: [name: string, value: number, keptAt: string][] = [
    // name, sample value, kept (K) or dropped (-) at 0.1 / 0.25 / 0.5 / 0.9
    ['np04_raw_run005141_0001_dl1.root', 0.9685808886451355, '----'],
    ['np04_raw_run005141_0002_dl1.root', 0.8665353978026005, '---K'],
    ['np04_raw_run005141_0003_dl1.root', 0.15690791419175554, '-KKK'],
    ['np04_raw_run005142_0001_dl5.root', 0.1271355999937036, '-KKK'],
    ['np04_hd_run020001_0017.hdf5', 0.48676023265677415, '--KK'],
    ['np04_hd_run020001_0018.hdf5', 0.7591885753071708, '---K'],
    ['np02_bde_coldbox_run011920_0000_20230614T101112.hdf5', 0.9182303924573425, '----'],
    ['dqm-summary.txt', 0.0780427787523017, 'KKKK'],
    ['run42.dat', 0.38162662355239974, '--KK'],
    ['file-0.dat', 0.024480123483229477, 'KKKK'],
    ['Ω-ünïcode.root', 0.7515687479878004, '---K'],
    ['a', 0.791374270522379, '---K'],
    ['', 0.8894159948913369, '---K'],
  ];

  test('a replay decides the same: fixed names give fixed sample values and decisions', () => {
    for (const [name, value, keptAt] of VECTORS) {
      assert.equal(sampleValue(name), value, `sample value of ${JSON.stringify(name)}`);
      const got = FRACTIONS.map((f) => (sampledIn(name, f) ? 'K' : '-')).join('');
      assert.equal(got, keptAt, `${JSON.stringify(name)} kept at ${FRACTIONS.join(' / ')}`);
    }
  });

  test('the decision depends only on the name: the same names decide the same in one run', () => {
    const names = Array.from({ length: 100 }, (_, i) => `np04_raw_run${String(i).padStart(3, '0')}.root`);
    const first = names.map((n) => sampledIn(n, 0.25));
    const again = names.map((n) => sampledIn(n, 0.25));
    assert.deepEqual(first, again);
    const kept = first.filter(Boolean).length;
    assert.ok(kept >= 13 && kept <= 37, `about a quarter of 100 kept, got ${kept}`);
  });

  test('sampling is nested: a file kept at 0.1 is kept at 0.25', () => {
    fc.assert(
      fc.property(
        fc.string(),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (n, a, b) => {
          const [lo, hi] = a < b ? [a, b] : [b, a];
          return !sampledIn(n, lo) || sampledIn(n, hi);
        },
      ),
    );
  });

  test('0 keeps nothing, 1 and absent keep everything; values are in [0,1)', () => {
    fc.assert(
      fc.property(fc.string(), (n) => {
        const v = sampleValue(n);
        return v >= 0 && v < 1 && !sampledIn(n, 0) && sampledIn(n, 1) && sampledIn(n, undefined);
      }),
    );
  });

  test('over many names the kept fraction is close to the fraction', () => {
    const n = 20_000;
    let kept = 0;
    for (let i = 0; i < n; i++) if (sampledIn(`file-${i}.dat`, 0.25)) kept++;
    assert.ok(Math.abs(kept / n - 0.25) < 0.02, `kept ${kept / n}`);
  });
});

describe('units and windows', () => {
  test('sizes are find-style binary units', () => {
    assert.equal(parseSize('1k'), 1024);
    assert.equal(parseSize('3900M'), 3900 * 1024 ** 2);
    assert.equal(parseSize('2GiB'), 2 * 1024 ** 3);
    assert.equal(parseSize('17'), 17);
    assert.equal(parseSize('1x'), undefined);
  });

  test('durations', () => {
    assert.equal(parseDuration('10m'), 600);
    assert.equal(parseDuration('2h'), 7200);
    assert.equal(parseDuration('45'), 45);
    assert.equal(parseDuration('1w'), undefined);
  });

  test('fixed windows are aligned to the epoch', () => {
    const t = Date.parse('2025-11-25T17:43:21.500Z');
    assert.equal(windowStart(60, t), '2025-11-25T17:43:00.000Z');
    assert.equal(windowStart(1200, t), '2025-11-25T17:40:00.000Z');
  });
});
