import { KafkaServer } from './kafka.js';
import { PostgresHandle, PostgresServer } from './postgres.js';

/**
 * The PostgreSQL and Kafka a test run shares. `make test` starts them once (harness/run.ts) and passes
 * their addresses in the environment; a test file run on its own starts its own.
 */
let postgres: Promise<PostgresHandle> | undefined;
let kafka: Promise<string[]> | undefined;

export function sharedPostgres(): Promise<PostgresHandle> {
  const port = process.env.PGRELAY_TEST_PG_PORT;
  postgres ??= port ? Promise.resolve(new PostgresHandle(Number(port))) : PostgresServer.start();
  return postgres;
}

export function sharedKafka(): Promise<string[]> {
  const brokers = process.env.PGRELAY_TEST_BROKERS;
  kafka ??= brokers ? Promise.resolve(brokers.split(',')) : KafkaServer.start().then((k) => k.brokers);
  return kafka;
}
