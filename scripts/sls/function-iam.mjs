/**
 * osls plugin: one IAM role per function, built from that function's own `iam:` declaration, so
 * every function holds only the tables, indexes and actions it uses (least privilege).
 *
 *   functions:
 *     pilotsPoll:
 *       handler: …
 *       iam:
 *         dynamodb:
 *           JobsTable: [GetItem, UpdateItem]          # table by its logical id
 *           JobsTable/index/queue: [Query]            # one index of it
 *         statements: []                              # raw IAM statements (S3, SQS …)
 *
 * Actions are DynamoDB API action names without the `dynamodb:` prefix. A transaction needs the
 * actions of its items (UpdateItem, PutItem, DeleteItem, ConditionCheckItem), never a
 * `TransactWriteItems` action (IAM has none). `iam: {}` is a valid declaration: no data access.
 *
 * The role also gets what the function's events need: its own log group, the DynamoDB streams
 * it reads, and the on-failure destinations of those streams. A function WITHOUT `iam:` gets no
 * role from this plugin: it falls back to osls's shared default role (logs only), which
 * test/integration/cfn-template.test.ts rejects, naming the function. See docs/aws.md.
 */

const DYNAMODB_ACTIONS = new Set([
  'GetItem',
  'PutItem',
  'UpdateItem',
  'DeleteItem',
  'ConditionCheckItem',
  'Query',
  'Scan',
  'BatchGetItem',
  'BatchWriteItem',
  'DescribeTable',
]);
const STREAM_ACTIONS = [
  'dynamodb:DescribeStream',
  'dynamodb:GetRecords',
  'dynamodb:GetShardIterator',
  'dynamodb:ListStreams',
];

const iamSchema = {
  type: 'object',
  properties: {
    dynamodb: {
      type: 'object',
      additionalProperties: { type: 'array', items: { type: 'string' }, minItems: 1 },
    },
    statements: { type: 'array', items: { type: 'object' } },
  },
  additionalProperties: false,
};

const unique = (values) => [...new Map(values.map((v) => [JSON.stringify(v), v])).values()];

/** Logical id of the role this plugin makes for a function. */
export const roleLogicalId = (naming, functionName) =>
  `${naming.getNormalizedFunctionName(functionName)}IamRole`;

export default class FunctionIamPlugin {
  constructor(serverless, _options, utils) {
    this.serverless = serverless;
    this.provider = serverless.getProvider('aws');
    this.log = utils?.log ?? { warning: (m) => process.stderr.write(`${m}\n`) };
    serverless.configSchemaHandler.defineFunctionProperties('aws', { properties: { iam: iamSchema } });
    this.hooks = {
      // Before osls decides whether it needs its shared default role: it skips it when every
      // function names its own.
      'before:package:setupProviderConfiguration': () => this.assignRoles(),
      'after:package:compileEvents': () => this.addRoles(),
    };
  }

  error(msg) {
    return new this.serverless.classes.Error(`function-iam: ${msg}`);
  }

  functions() {
    const svc = this.serverless.service;
    return svc.getAllFunctions().map((name) => ({ name, fn: svc.getFunction(name) }));
  }

  assignRoles() {
    const undeclared = [];
    for (const { name, fn } of this.functions()) {
      if (!fn.iam) {
        undeclared.push(name);
        continue;
      }
      if (fn.role) throw this.error(`function ${name} has both \`iam\` and \`role\`; keep one`);
      fn.role = roleLogicalId(this.provider.naming, name);
    }
    if (undeclared.length) {
      this.log.warning(
        `function-iam: no \`iam:\` declaration for ${undeclared.join(', ')} — they get the shared ` +
          'default role with no data access, and the template test fails. See docs/aws.md.',
      );
    }
  }

  addRoles() {
    const template = this.serverless.service.provider.compiledCloudFormationTemplate;
    const resources = template.Resources;
    const declared = this.serverless.service.resources?.Resources ?? {};
    const { service } = this.serverless.service;
    const stage = this.provider.getStage();
    for (const { name, fn } of this.functions()) {
      if (!fn.iam) continue;
      const statements = [
        ...this.logStatements(name, resources),
        ...this.dynamodbStatements(name, fn.iam.dynamodb ?? {}, declared),
        ...this.eventStatements(fn),
        ...(fn.iam.statements ?? []),
      ];
      resources[roleLogicalId(this.provider.naming, name)] = {
        Type: 'AWS::IAM::Role',
        Properties: {
          AssumeRolePolicyDocument: {
            Version: '2012-10-17',
            Statement: [
              {
                Effect: 'Allow',
                Principal: { Service: ['lambda.amazonaws.com'] },
                Action: ['sts:AssumeRole'],
              },
            ],
          },
          Policies: [
            {
              PolicyName: `${service}-${stage}-${name}`.slice(0, 128),
              PolicyDocument: { Version: '2012-10-17', Statement: statements },
            },
          ],
        },
      };
    }
  }

  /** The function's own log group only (its Arn ends in `:*`, which covers its log streams). */
  logStatements(name, resources) {
    const logGroup = this.provider.naming.getLogGroupLogicalId(name);
    if (!resources[logGroup]) return [];
    return [
      {
        Effect: 'Allow',
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Resource: [{ 'Fn::GetAtt': [logGroup, 'Arn'] }],
      },
    ];
  }

  dynamodbStatements(fnName, decl, declared) {
    const out = [];
    for (const [target, actions] of Object.entries(decl)) {
      const [table, kind, index, ...rest] = target.split('/');
      const res = declared[table];
      if (res?.Type !== 'AWS::DynamoDB::Table')
        throw this.error(`function ${fnName}: ${table} is not an AWS::DynamoDB::Table in resources`);
      let arn = { 'Fn::GetAtt': [table, 'Arn'] };
      if (kind !== undefined) {
        const indexes = [
          ...(res.Properties?.GlobalSecondaryIndexes ?? []),
          ...(res.Properties?.LocalSecondaryIndexes ?? []),
        ].map((i) => i.IndexName);
        if (kind !== 'index' || !index || rest.length || !indexes.includes(index))
          throw this.error(
            `function ${fnName}: ${target} is not <Table>/index/<name> with one of ${table}'s indexes (${indexes.join(', ')})`,
          );
        arn = { 'Fn::Join': ['/', [arn, 'index', index]] };
      }
      for (const a of actions) {
        if (a === 'TransactWriteItems' || a === 'TransactGetItems')
          throw this.error(
            `function ${fnName}: ${a} is not an IAM action; declare the actions of its items (UpdateItem, PutItem, DeleteItem, ConditionCheckItem, GetItem)`,
          );
        if (!DYNAMODB_ACTIONS.has(a))
          throw this.error(`function ${fnName}: unknown DynamoDB action ${a} on ${target}`);
      }
      out.push({ Effect: 'Allow', Action: actions.map((a) => `dynamodb:${a}`), Resource: [arn] });
    }
    return out;
  }

  /** What the function's stream events need: read its streams, send failures to their destinations. */
  eventStatements(fn) {
    const streams = [];
    const sqs = [];
    const sns = [];
    for (const ev of fn.events ?? []) {
      const s = ev.stream;
      if (!s) continue;
      const arn = typeof s === 'object' ? s.arn : s;
      const type =
        (typeof s === 'object' && s.type) || (typeof arn === 'string' ? arn.split(':')[2] : undefined);
      if (type !== 'dynamodb') throw this.error('only DynamoDB stream events are supported');
      streams.push(arn);
      const onFailure = typeof s === 'object' ? s.destinations?.onFailure : undefined;
      if (onFailure) {
        const dest = typeof onFailure === 'object' ? onFailure.arn : onFailure;
        const destType = (typeof onFailure === 'object' && onFailure.type) || String(dest).split(':')[2];
        (destType === 'sns' ? sns : sqs).push(dest);
      }
    }
    const out = [];
    if (streams.length) out.push({ Effect: 'Allow', Action: STREAM_ACTIONS, Resource: unique(streams) });
    if (sqs.length) out.push({ Effect: 'Allow', Action: ['sqs:SendMessage'], Resource: unique(sqs) });
    if (sns.length) out.push({ Effect: 'Allow', Action: ['sns:Publish'], Resource: unique(sns) });
    return out;
  }
}
