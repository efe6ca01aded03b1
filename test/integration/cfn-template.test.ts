/**
 * The packaged CloudFormation template (`serverless package --stage prod`) keeps the deployment
 * rules of docs/aws.md, so a regression in serverless.yml fails CI rather than production:
 * streams never retry forever, every function has its own least-privilege role and no wildcard
 * resources, tables are protected, and every event declared in serverless.yml is in the stack.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { type LocalFunction, loadServerless, repoRoot } from '../../localstack/runtime/serverless-config.ts';
import { matchesFilter } from '../../localstack/runtime/streams.ts';
import { Config } from '../../shared/config.ts';

type Json = Record<string, any>;
interface Resource {
  Type: string;
  Properties: Json;
  DependsOn?: string[];
}

const STAGE = 'prod';
let dir: string;
let template: { Resources: Record<string, Resource>; Conditions?: Json; Outputs?: Json };
let functions: LocalFunction[];
const fnLogicalId = new Map<string, string>();

before(
  async () => {
    dir = mkdtempSync(join(tmpdir(), 'p3s-cfn-'));
    const bin = join(repoRoot, 'node_modules', 'osls', 'bin', 'serverless.js');
    // serverless-esbuild's scratch folder, relative to the service: one of our own, where no
    // other packaging run cleans up (node_modules is ignored by git and Biome).
    const work = join('node_modules', '.cache', `p3s-cfn-${basename(dir)}`);
    const out = await promisify(execFile)(
      process.execPath,
      [bin, 'package', '--stage', STAGE, '--package', dir],
      {
        cwd: repoRoot,
        env: {
          ...process.env,
          SLS_TELEMETRY_DISABLED: '1',
          SLS_NOTIFICATIONS_MODE: 'off',
          P3S_ESBUILD_WORK_FOLDER: work,
        },
        maxBuffer: 64 * 1024 * 1024,
      },
    ).finally(() => rmSync(join(repoRoot, work), { recursive: true, force: true }));
    const file = join(dir, 'cloudformation-template-update-stack.json');
    assert.ok(
      existsSync(file),
      `serverless package wrote no template:\n${out.stdout}\n${out.stderr}`.slice(-4000),
    );
    template = JSON.parse(readFileSync(file, 'utf8'));
    functions = loadServerless(STAGE).functions;
    for (const [id, r] of Object.entries(template.Resources)) {
      if (r.Type !== 'AWS::Lambda::Function') continue;
      const name = String(r.Properties.FunctionName).replace(/^p3s-prod-/, '');
      fnLogicalId.set(name, id);
    }
  },
  { timeout: 10 * 60_000 },
);
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const of = (type: string) => Object.entries(template.Resources).filter(([, r]) => r.Type === type);
const getAtt = (id: string, attr: string) => ({ 'Fn::GetAtt': [id, attr] });
const fnArn = (fn: string) => getAtt(fnLogicalId.get(fn)!, 'Arn');

/** Evaluates the little CloudFormation this template uses for stage switches. */
function evaluate(v: unknown): unknown {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return v;
  const o = v as Json;
  if ('Fn::If' in o) {
    const [cond, yes, no] = o['Fn::If'];
    return evaluate(evaluate(template.Conditions?.[cond]) ? yes : no);
  }
  if ('Fn::Equals' in o) {
    const [a, b] = o['Fn::Equals'].map(evaluate);
    return a === b;
  }
  return v;
}

/** Every literal string inside a value (through Fn::Join, Fn::Sub …). */
function strings(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.flatMap(strings);
  if (v && typeof v === 'object') return Object.values(v).flatMap(strings);
  return [];
}

/** An S3 object ARN `arn:…:s3:::bucket/[prefix]*` (object keys are the only place a `*` is allowed). */
function isS3ObjectArn(res: unknown): boolean {
  const all = strings(res);
  const last = all[all.length - 1] ?? '';
  return (
    all.some((s) => s.includes(':s3:::')) && /\/[^*]*\*$/.test(last) && all.join('').split('*').length === 2
  );
}

function statementsOf(role: Resource): Json[] {
  return (role.Properties.Policies ?? []).flatMap((p: Json) => p.PolicyDocument.Statement as Json[]);
}

describe('the prod CloudFormation template', () => {
  test('every function of serverless.yml is in the template', () => {
    const missing = functions.filter((f) => !fnLogicalId.has(f.name)).map((f) => f.name);
    assert.deepEqual(missing, []);
  });

  test('every httpApi route is a route of the HTTP API, integrated with its function', () => {
    const routes = of('AWS::ApiGatewayV2::Route').map(([, r]) => r.Properties);
    const integrations = Object.fromEntries(of('AWS::ApiGatewayV2::Integration'));
    for (const f of functions) {
      for (const h of f.http) {
        const key = `${h.method} ${h.path}`;
        const route = routes.find((r) => r.RouteKey === key);
        assert.ok(route, `route ${key} of ${f.name}`);
        const integrationId = route.Target['Fn::Join'][1][1].Ref as string;
        assert.deepEqual(integrations[integrationId]?.Properties.IntegrationUri, fnArn(f.name), key);
      }
    }
  });

  test('every stream event is an event source mapping of its function and table', () => {
    const mappings = of('AWS::Lambda::EventSourceMapping').map(([, r]) => r.Properties);
    for (const f of functions) {
      for (const s of f.streams) {
        const m = mappings.filter(
          (p) =>
            JSON.stringify(p.FunctionName) === JSON.stringify(fnArn(f.name)) &&
            JSON.stringify(p.EventSourceArn) === JSON.stringify(getAtt(s.table, 'StreamArn')),
        );
        assert.equal(m.length, 1, `${f.name} on ${s.table}`);
      }
    }
  });

  test('every schedule and S3 event is wired to its function', () => {
    const rules = of('AWS::Events::Rule').map(([, r]) => r.Properties);
    const buckets = of('AWS::S3::Bucket').map(([, r]) => r.Properties);
    for (const f of functions) {
      for (const s of f.schedules) {
        const rule = rules.find(
          (r) =>
            r.ScheduleExpression === s.rate &&
            r.Targets.some((t: Json) => JSON.stringify(t.Arn) === JSON.stringify(fnArn(f.name))),
        );
        assert.ok(rule, `schedule ${s.rate} of ${f.name}`);
      }
      for (const s of f.s3) {
        const bucket = buckets.find((b) => b.BucketName === s.bucket);
        assert.ok(bucket, `bucket ${s.bucket} of ${f.name}`);
        const conf = bucket.NotificationConfiguration.LambdaConfigurations.find(
          (c: Json) => JSON.stringify(c.Function) === JSON.stringify(fnArn(f.name)),
        );
        assert.equal(conf?.Event, s.event, `${f.name} notified of ${s.event} on ${s.bucket}`);
      }
    }
    assert.ok(
      functions.find((f) => f.name === 'reaper')?.schedules.some((s) => s.rate === 'rate(1 minute)'),
      'the reaper runs every minute',
    );
  });

  test('stream sources never retry forever nor block a shard: bounded retries, bisect, partial failures, on-failure queue, filters', () => {
    const mappings = of('AWS::Lambda::EventSourceMapping');
    assert.ok(mappings.length >= 4);
    for (const [id, { Properties: p }] of mappings) {
      assert.ok(
        Number.isInteger(p.MaximumRetryAttempts) &&
          p.MaximumRetryAttempts >= 0 &&
          p.MaximumRetryAttempts <= 5,
        `${id}: MaximumRetryAttempts ${p.MaximumRetryAttempts} (AWS default -1 = until the record expires)`,
      );
      assert.equal(p.BisectBatchOnFunctionError, true, `${id}: bisect`);
      assert.deepEqual(p.FunctionResponseTypes, ['ReportBatchItemFailures'], `${id}: partial batch failures`);
      assert.deepEqual(
        p.DestinationConfig?.OnFailure?.Destination,
        getAtt('StreamFailuresQueue', 'Arn'),
        `${id}: on-failure destination`,
      );
      assert.equal(p.StartingPosition, 'LATEST', id);
      assert.ok(p.MaximumBatchingWindowInSeconds !== undefined && p.MaximumBatchingWindowInSeconds <= 1, id);
      const filters = p.FilterCriteria?.Filters ?? [];
      assert.ok(filters.length >= 1 && filters.length <= 5, `${id}: 1–5 filter patterns (Lambda's quota)`);
      for (const f of filters) {
        const pattern = JSON.parse(f.Pattern);
        assert.ok('eventName' in pattern || 'dynamodb' in pattern, `${id}: pattern ${f.Pattern}`);
      }
    }
    assert.equal(template.Resources.StreamFailuresQueue?.Type, 'AWS::SQS::Queue');
  });

  test('no stream has more than two consumers (DynamoDB throttles a third reader of a shard)', () => {
    const perStream = new Map<string, string[]>();
    for (const [id, { Properties: p }] of of('AWS::Lambda::EventSourceMapping')) {
      const k = JSON.stringify(p.EventSourceArn);
      perStream.set(k, [...(perStream.get(k) ?? []), id]);
    }
    for (const [stream, ids] of perStream) assert.ok(ids.length <= 2, `${stream}: ${ids.join(', ')}`);
  });

  test('filters let through the records each stream function acts on (same matcher as the local stack)', () => {
    // Sample records, as Lambda delivers them: INSERT, MODIFY, REMOVE (TTL).
    const img = (o: Record<string, string>) =>
      Object.fromEntries(Object.entries(o).map(([k, v]) => [k, { S: v }]));
    const jobsMm = filtersOf('matchmaker', 'JobsTable');
    const passes = (filters: Json[], r: Json) => filters.some((f) => matchesFilter(f, r));
    assert.ok(
      passes(jobsMm, { eventName: 'INSERT', dynamodb: { NewImage: img({ state: 'defined', qpk: 'Q#*' }) } }),
    );
    // A counted job's end frees a cap slot; an uncapped type's job (not counted) frees none.
    assert.ok(
      passes(jobsMm, {
        eventName: 'MODIFY',
        dynamodb: {
          OldImage: { ...img({ state: 'running' }), counted: { BOOL: true } },
          NewImage: img({ state: 'finished' }),
        },
      }),
    );
    assert.ok(
      !passes(jobsMm, {
        eventName: 'MODIFY',
        dynamodb: { OldImage: img({ state: 'running' }), NewImage: img({ state: 'finished' }) },
      }),
      "an uncapped job's end wakes no matchmaker",
    );
    assert.ok(
      !passes(jobsMm, {
        eventName: 'MODIFY',
        dynamodb: { OldImage: img({ state: 'dispatched' }), NewImage: img({ state: 'running' }) },
      }),
      'jobstart wakes no matchmaker',
    );
    const statsPilots = filtersOf('jobEvents', 'PilotsTable');
    assert.ok(
      passes(statsPilots, { eventName: 'REMOVE', dynamodb: { OldImage: img({ state: 'stopped' }) } }),
    );
    assert.ok(
      !passes(statsPilots, {
        eventName: 'MODIFY',
        dynamodb: { OldImage: img({ state: 'running' }), NewImage: img({ state: 'running' }) },
      }),
      'a heartbeat reaches no stats consumer',
    );
  });

  test('every function has a role of its own: no shared default role (declare `iam:` on the function)', () => {
    const roleOf = new Map<string, string>();
    const shared: string[] = [];
    for (const [name, id] of fnLogicalId) {
      const role = template.Resources[id]!.Properties.Role?.['Fn::GetAtt']?.[0] as string | undefined;
      if (!role || role === 'IamRoleLambdaExecution') shared.push(name);
      else {
        assert.ok(![...roleOf.values()].includes(role), `${name} shares role ${role}`);
        roleOf.set(name, role);
      }
    }
    assert.deepEqual(shared, [], 'functions without an `iam:` declaration in serverless.yml (docs/aws.md)');
    assert.equal(template.Resources.IamRoleLambdaExecution, undefined);
  });

  test('IAM statements name their resources: no `*`, no wildcard actions', () => {
    const roles = [...of('AWS::IAM::Role'), ...of('AWS::IAM::Policy'), ...of('AWS::IAM::ManagedPolicy')];
    for (const [id, role] of roles) {
      const statements =
        role.Type === 'AWS::IAM::Role'
          ? statementsOf(role)
          : (role.Properties.PolicyDocument.Statement as Json[]);
      for (const st of statements) {
        assert.equal(st.Effect, 'Allow', id);
        for (const a of [st.Action].flat()) assert.ok(!String(a).includes('*'), `${id}: action ${a}`);
        for (const res of [st.Resource].flat()) {
          if (isS3ObjectArn(res)) continue;
          for (const s of strings(res)) assert.ok(!s.includes('*'), `${id}: resource ${JSON.stringify(res)}`);
        }
      }
    }
  });

  test('stream functions may read their streams and report failures, and nothing else reads a stream', () => {
    for (const f of functions) {
      const role = template.Resources[`${fnLogicalId.get(f.name)!.replace(/LambdaFunction$/, '')}IamRole`];
      assert.ok(role, f.name);
      const sts = statementsOf(role);
      const readsStream = sts.filter((s) => [s.Action].flat().includes('dynamodb:GetRecords'));
      if (!f.streams.length) {
        assert.deepEqual(readsStream, [], `${f.name} has no stream event`);
        continue;
      }
      const streams = readsStream.flatMap((s) => [s.Resource].flat().map((r) => JSON.stringify(r)));
      for (const s of f.streams) assert.ok(streams.includes(JSON.stringify(getAtt(s.table, 'StreamArn'))));
      assert.ok(
        sts.some(
          (s) =>
            [s.Action].flat().includes('sqs:SendMessage') &&
            JSON.stringify(s.Resource).includes('StreamFailuresQueue'),
        ),
        `${f.name} may send to StreamFailuresQueue`,
      );
    }
  });

  test('tables: on-demand, point-in-time recovery, deletion protection on prod, TTL on `ttl`', () => {
    const tables = of('AWS::DynamoDB::Table');
    assert.ok(tables.length >= 11);
    for (const [id, { Properties: p }] of tables) {
      assert.equal(p.BillingMode, 'PAY_PER_REQUEST', id);
      assert.equal(p.PointInTimeRecoverySpecification?.PointInTimeRecoveryEnabled, true, `${id}: PITR`);
      assert.equal(evaluate(p.DeletionProtectionEnabled), true, `${id}: deletion protection on prod`);
      if (p.TimeToLiveSpecification) assert.equal(p.TimeToLiveSpecification.AttributeName, 'ttl', id);
    }
    // The code writes `ttl` on ended jobs, ended pilots and per-minute stats.
    for (const id of ['JobsTable', 'PilotsTable', 'StatsTable'])
      assert.equal(template.Resources[id]?.Properties.TimeToLiveSpecification?.Enabled, true, `${id}: TTL`);
    assert.deepEqual(template.Conditions?.IsProd, { 'Fn::Equals': ['prod', 'prod'] });
  });

  test('logs expire, API functions end before API Gateway’s 30 s, and the API URL is an output', () => {
    for (const [id, { Properties: p }] of of('AWS::Logs::LogGroup'))
      assert.ok(Number(p.RetentionInDays) > 0, `${id}: retention`);
    const longpoll = Config.parse({}).P3S_LONGPOLL_MAX;
    for (const f of functions) {
      if (!f.http.length) continue;
      const timeout = template.Resources[fnLogicalId.get(f.name)!]!.Properties.Timeout;
      assert.ok(timeout <= 29, `${f.name}: timeout ${timeout} s ≥ API Gateway's 30 s`);
      if (f.name === 'pilotsPoll') assert.ok(timeout > longpoll, 'a held poll ends before its function');
    }
    assert.ok(template.Outputs?.ApiUrl, 'ApiUrl output');
  });

  test('the API stage is throttled, the sign-in form far lower than the rest (docs/security.md)', () => {
    const stages = of('AWS::ApiGatewayV2::Stage');
    assert.equal(stages.length, 1);
    const [id, stage] = stages[0]!;
    const all = stage.Properties.DefaultRouteSettings;
    assert.ok(
      all.ThrottlingRateLimit > 0 && all.ThrottlingBurstLimit >= all.ThrottlingRateLimit,
      `${id}: default throttling`,
    );
    const signin = stage.Properties.RouteSettings?.['POST /monitor/signin'];
    assert.ok(signin, 'POST /monitor/signin has route settings');
    assert.ok(
      signin.ThrottlingRateLimit > 0 && signin.ThrottlingRateLimit <= 10,
      'sign-in: a few a second at most',
    );
    // A route setting fails to deploy unless its route exists first.
    for (const key of Object.keys(stage.Properties.RouteSettings)) {
      const route = of('AWS::ApiGatewayV2::Route').find(([, r]) => r.Properties.RouteKey === key);
      assert.ok(route, `route ${key} exists`);
      assert.ok(stage.DependsOn?.includes(route[0]), `${id} depends on ${route[0]}`);
    }
  });
});

function filtersOf(fn: string, table: string): Json[] {
  const m = of('AWS::Lambda::EventSourceMapping').find(
    ([, r]) =>
      JSON.stringify(r.Properties.FunctionName) === JSON.stringify(fnArn(fn)) &&
      JSON.stringify(r.Properties.EventSourceArn) === JSON.stringify(getAtt(table, 'StreamArn')),
  );
  assert.ok(m, `${fn} on ${table}`);
  return m[1].Properties.FilterCriteria.Filters.map((f: Json) => JSON.parse(f.Pattern));
}
