import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { type PilotProcess, startPilot } from '../helpers/pilots.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';
import { fileWithJobs, jobEnded, reportLatency } from './arrival-helpers.ts';

let s: TestStack;
let pilot: PilotProcess;
const BUCKET = 'p3s-local-data';

before(async () => {
  s = await startTestStack();
  pilot = startPilot(s.url, s.pilotToken, ['--cycles', '0']);
});
after(async () => {
  await pilot?.stop('SIGKILL');
  await s?.close();
});

// The payload reads the object back from the S3 endpoint named by its location (s3://bucket/key).
const READ_BACK = `node -e 'const [b, ...k] = process.env.P3S_INPUT_FILE.slice(5).split("/");
fetch(process.env.S3_ENDPOINT + "/" + b + "/" + k.map(encodeURIComponent).join("/"))
  .then((r) => r.text()).then((t) => process.stdout.write(t))'`;

describe('S3: an object put in the data bucket runs a job that reads it back', () => {
  test('PutObject under incoming/ → ObjectCreated → rule → job with P3S_INPUT_FILE=s3://… → finished', async () => {
    const rule = await s.call('POST', '/rules', {
      body: {
        name: 's3-readback',
        match: { source: 's3', under: `s3://${BUCKET}/incoming/` },
        action: [
          {
            name: 's3read',
            jobtype: 's3read',
            payload: READ_BACK,
            env: { P3S_EXECMODE: 'SHELL', S3_ENDPOINT: s.s3Endpoint! },
          },
        ],
      },
    });
    assert.equal(rule.status, 201, JSON.stringify(rule.body));
    const secret = `s3-object-${randomBytes(8).toString('hex')}`;
    const key = 'incoming/run 12/raw+data.txt';
    const t0 = Date.now();
    const put = await fetch(`${s.s3Endpoint}/${BUCKET}/${key.split('/').map(encodeURIComponent).join('/')}`, {
      method: 'PUT',
      body: secret,
    });
    assert.equal(put.status, 200);
    const location = `s3://${BUCKET}/${key}`;
    const data = await fileWithJobs(s, location, 'the object registered');
    const job = await jobEnded(s, data.jobIds[0]);
    assert.equal(job.state, 'finished', JSON.stringify(job));
    assert.equal(job.env.P3S_INPUT_FILE, location);
    assert.equal(job.stdoutTail, secret, 'the payload read the object through its location');
    reportLatency('s3 (PutObject)', t0, job);
  });
});
