import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Announcement, RegisterBody } from '../../shared/core/data/data.ts';
import { Datatype, datatypeOf } from '../../shared/core/data/datatype.ts';
import { dataId, LocationError, normaliseLocation } from '../../shared/core/data/location.ts';

const loc = (s: string) => normaliseLocation(s).location;

describe('location normalisation', () => {
  test('a POSIX path is cleaned of //, . and ..', () => {
    assert.equal(loc('/data//input/./run1/../run2/f.root'), '/data/input/run2/f.root');
  });

  test('a file:// URL becomes its path, %-escapes decoded', () => {
    assert.equal(loc('file:///data/in/a%20b.txt'), '/data/in/a b.txt');
    assert.equal(loc('file://localhost/data/x.txt'), '/data/x.txt');
  });

  test('an XRootD URL gets a lower-case host, no default port, one // before the path', () => {
    assert.equal(loc('root://EOS.cern.ch:1094//eos/a/../b/f.root'), 'root://eos.cern.ch//eos/b/f.root');
    assert.equal(loc('root://127.0.0.1:11094/data/run1/f.root'), 'root://127.0.0.1:11094//data/run1/f.root');
    assert.equal(loc('xroot://h:2000///data/f'), 'root://h:2000//data/f');
    assert.equal(loc('roots://h//d/f?authz=x'), 'roots://h//d/f?authz=x');
  });

  test('two spellings of one file have one id', () => {
    assert.equal(dataId(loc('root://H:1094//d/f')), dataId(loc('root://h/d/f')));
    assert.equal(dataId(loc('/d//f')), dataId(loc('/d/f')));
    assert.notEqual(dataId(loc('/d/f')), dataId(loc('/d/g')));
    assert.match(dataId('/d/f'), /^[0-9a-f]{32}$/);
  });

  test('an S3 key is kept byte for byte (a//b and a/b are different objects)', () => {
    assert.equal(loc('s3://bkt/a//b c.txt'), 's3://bkt/a//b c.txt');
    assert.notEqual(loc('s3://bkt/a//b'), loc('s3://bkt/a/b'));
    const n = normaliseLocation('s3://bkt/incoming/x y.root');
    assert.deepEqual(n, {
      location: 's3://bkt/incoming/x y.root',
      scheme: 's3',
      name: 'x y.root',
      dirpath: 's3://bkt/incoming/',
    });
  });

  test('name and dirpath are split as the original stored them', () => {
    assert.deepEqual(normaliseLocation('/data/in/f.txt'), {
      location: '/data/in/f.txt',
      scheme: 'posix',
      name: 'f.txt',
      dirpath: '/data/in/',
    });
    const r = normaliseLocation('root://h:1//data/f.root');
    assert.equal(r.name, 'f.root');
    assert.equal(r.dirpath, 'root://h:1//data/');
  });

  for (const [bad, why] of [
    ['relative/path.txt', /absolute POSIX path/],
    ['', /empty/],
    ['/data/dir/', /directory/],
    ['/', /no file name|directory/],
    ['/../x/..', /no file name/],
    ['http://host/x', /absolute POSIX path/],
    ['s3://Bad_Bucket/x', /bucket/],
    ['s3://bucket/', /absolute POSIX path|no file name|directory/],
    ['root://host', /no file name|directory/],
    ['root://ho st//x', /host/],
    ['/data/a\u0000b', /control/],
  ] as const) {
    test(`"${bad.replace('\u0000', '\\0')}" is refused`, () => {
      assert.throws(
        () => normaliseLocation(bad),
        (e: unknown) => e instanceof LocationError && why.test(e.message),
      );
    });
  }
});

describe('announcements', () => {
  test('the original dataset JSON (dirpath + name) is accepted', () => {
    const a = Announcement.parse({ name: 'f.txt', dirpath: '/data/input', state: 'defined', uuid: 'x' });
    assert.equal(a.location, '/data/input/f.txt');
    assert.equal(a.source, 'api');
  });

  test('a bad location names the field', () => {
    const r = RegisterBody.safeParse({ files: [{ location: '/ok.txt' }, { location: 'nope' }] });
    assert.equal(r.success, false);
    assert.deepEqual(r.error!.issues[0]!.path, ['files', 1, 'location']);
    assert.match(r.error!.issues[0]!.message, /absolute POSIX path/);
  });

  test('one object, a list, or {files} are the same body', () => {
    const one = RegisterBody.parse({ location: '/a.txt', size: '12' });
    const list = RegisterBody.parse([{ location: '/a.txt', size: 12 }]);
    const files = RegisterBody.parse({ files: [{ location: '/a.txt', size: 12 }] });
    assert.deepEqual(one, list);
    assert.deepEqual(list, files);
    assert.equal(one[0]!.size, 12);
  });

  test('a negative size or an unknown key is refused', () => {
    assert.equal(RegisterBody.safeParse({ location: '/a', size: -1 }).success, false);
    assert.equal(RegisterBody.safeParse({ location: '/a', sizee: 1 }).success, false);
    assert.equal(RegisterBody.safeParse([]).success, false);
  });
});

describe('datatypes', () => {
  test('the original JSON is a datatype; the extension needs its dot', () => {
    assert.deepEqual(Datatype.parse({ name: 'TXT', ext: '.txt', comment: 'text' }), {
      name: 'TXT',
      ext: '.txt',
      comment: 'text',
    });
    const r = Datatype.safeParse({ name: 'TXT', ext: 'txt' });
    assert.equal(r.success, false);
    assert.deepEqual(r.error!.issues[0]!.path, ['ext']);
  });

  test('a file gets the datatype of its longest matching extension', () => {
    const types = [
      { name: 'GZ', ext: '.gz' },
      { name: 'TARGZ', ext: '.tar.gz' },
      { name: 'ROOT', ext: '.root' },
    ];
    assert.equal(datatypeOf('x.tar.gz', types), 'TARGZ');
    assert.equal(datatypeOf('x.gz', types), 'GZ');
    assert.equal(datatypeOf('x.ROOT', types), undefined);
    assert.equal(datatypeOf('.root', types), undefined, 'the extension alone is not a file of that type');
  });
});
