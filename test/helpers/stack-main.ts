/**
 * The local stack as a process of its own on the test run's DynamoDB Local, for fault tests
 * that stop the server and start it again over the same tables (P3S_TEST_TABLE_PREFIX) and the
 * same port (P3S_PORT). Prints `ready <url>` when it serves; SIGTERM stops it.
 */
import { startStack } from '../../localstack/stack.ts';

const endpoint = process.env.P3S_TEST_DYNAMODB_ENDPOINT;
const tablePrefix = process.env.P3S_TEST_TABLE_PREFIX;
const home = process.env.P3S_HOME;
if (!endpoint || !tablePrefix || !home)
  throw new Error('needs P3S_TEST_DYNAMODB_ENDPOINT, P3S_TEST_TABLE_PREFIX, P3S_HOME');

const stack = await startStack({
  home,
  dynamoEndpoint: endpoint,
  tablePrefix,
  port: Number(process.env.P3S_PORT ?? 0),
  bootstrapTokens: true,
  log: (msg, fields) => process.stderr.write(`${JSON.stringify({ msg, ...fields })}\n`),
});
process.stdout.write(`ready ${stack.url}\n`);
const stop = async () => {
  await stack.stop();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
