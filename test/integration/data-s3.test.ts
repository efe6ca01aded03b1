import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SimPilot } from '../helpers/pilot-sim.ts';
import { startTestStack, type TestStack, waitFor } from '../helpers/stack.ts';

let s: TestStack;
const BUCKET = 'p3s-local-data';

before(async () => {
  s = await startTestStack();
  const r = await s.call('POST', '/rules', {
    body: {
      name: 's3-files',
      match: { source: 's3' },
      action: [
        {
          name: 'from-s3',
          jobtype: 's3dqm',
          payload: 'echo "$P3S_INPUT_FILE"',
          env: { P3S_EXECMODE: 'SHELL' },
        },
      ],
    },
  });
  assert.equal(r.status, 201);
});
after(async () => {
  await s.close();
});

const fixture = (name: string) =>
  JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures', 's3', name), 'utf8'));

/** A plain (anonymous, path-style) S3 PutObject, as any S3 client sends it. */
async function putObject(key: string, body: string): Promise<void> {
  const path = key.split('/').map(encodeURIComponent).join('/');
  const r = await fetch(`${s.s3Endpoint}/${BUCKET}/${path}`, { method: 'PUT', body });
  assert.equal(r.status, 200, await r.text());
}

const byLocation = async (location: string) =>
  (await s.call('GET', `/data?location=${encodeURIComponent(location)}`)).body.data[0];

describe('S3 ObjectCreated on the local stack (s3rver)', () => {
  test('the local stack runs an S3 endpoint with the bucket of serverless.yml', async () => {
    assert.match(s.s3Endpoint ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
    const r = await fetch(`${s.s3Endpoint}/${BUCKET}?list-type=2`);
    assert.equal(r.status, 200);
  });

  test('an object put under incoming/ becomes a file whose job runs with its s3:// location', async () => {
    await putObject('elsewhere/ignored.txt', 'not under the prefix');
    await putObject('incoming/run 7/np04 raw+1 (a).txt', 'hello from s3');
    const location = `s3://${BUCKET}/incoming/run 7/np04 raw+1 (a).txt`;
    const d = await waitFor(() => byLocation(location).then((x) => x?.state === 'triggered' && x), {
      what: 'the object registered',
    });
    assert.equal(d.source, 's3');
    assert.equal(d.size, 'hello from s3'.length);
    assert.equal(d.name, 'np04 raw+1 (a).txt');
    const [jobId] = d.jobIds;
    const p = new SimPilot(s);
    await p.register();
    const poll = await p.poll();
    assert.equal(poll.body.job.id, jobId);
    assert.equal(poll.body.job.env.P3S_INPUT_FILE, location);
    await p.report({ event: 'jobstart', jobId });
    await p.report({ event: 'jobstop', jobId, exitCode: 0 });
    assert.equal((await s.call('GET', `/jobs/${jobId}`)).body.state, 'finished');
    assert.equal(
      await byLocation(`s3://${BUCKET}/elsewhere/ignored.txt`),
      undefined,
      'the prefix rule filtered it',
    );
  });

  test('an object overwritten (two events) creates its jobs once', async () => {
    await putObject('incoming/twice.txt', 'v1');
    await putObject('incoming/twice.txt', 'v2');
    const location = `s3://${BUCKET}/incoming/twice.txt`;
    // The second event may be counted before the first one's rules have run: wait for both.
    const d = await waitFor(
      () => byLocation(location).then((x) => x?.announced === 2 && x.state !== 'new' && x),
      { what: 'two announcements and a finished registration' },
    );
    assert.equal(d.state, 'triggered');
    assert.equal(d.jobIds.length, 1);
  });
});

describe('S3 events shaped like AWS sends them', () => {
  test('an encoded key is decoded: run%3D42 and + become = and a space', async () => {
    await s.invoke('s3ObjectCreated', fixture('put-encoded-key.json'));
    const d = await byLocation(`s3://${BUCKET}/incoming/run=42/np04_raw run042 (copy).root`);
    assert.equal(d.size, 1305107);
    assert.equal(d.state, 'triggered');
  });

  test('a multipart upload with a UTF-8 key', async () => {
    await s.invoke('s3ObjectCreated', fixture('multipart-unicode.json'));
    const d = await byLocation(`s3://${BUCKET}/incoming/café +1/not-a-dir.txt`);
    assert.equal(d.size, 52428800);
  });

  test('bad records (unknown bucket, delete, bad escape, no s3) are skipped without losing the good one', async () => {
    await s.invoke('s3ObjectCreated', fixture('mixed-bad-then-good.json'));
    const good = await byLocation(`s3://${BUCKET}/incoming/good one.txt`);
    assert.equal(good.state, 'triggered');
    assert.equal(await byLocation('s3://somebody-elses-bucket/incoming/x.txt'), undefined);
    assert.equal(await byLocation(`s3://${BUCKET}/incoming/old.txt`), undefined);
  });

  test('the same event delivered twice (a Lambda retry) creates jobs once', async () => {
    const ev = fixture('put-encoded-key.json');
    ev.Records[0].s3.object.key = 'incoming/retried.root';
    await s.invoke('s3ObjectCreated', ev);
    await s.invoke('s3ObjectCreated', ev);
    const d = await byLocation(`s3://${BUCKET}/incoming/retried.root`);
    assert.equal(d.announced, 2);
    assert.equal(d.jobIds.length, 1);
  });
});
