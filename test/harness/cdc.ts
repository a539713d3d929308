import { randomUUID } from 'node:crypto';
import type { ChangeEvent } from '../../src/core/event.js';
import { type ConsumedMessage, readAtLeast } from './kcat.js';
import type { PostgresHandle } from './postgres.js';
import { sharedKafka, sharedPostgres } from './services.js';

/** A fresh database on the shared PostgreSQL and a unique topic prefix on the shared Kafka. */
export interface CdcFixture {
  pg: PostgresHandle;
  database: string;
  dsn: string;
  brokers: string[];
  /** A topic name unique to this fixture. */
  topic(name: string): string;
  sql<R extends Record<string, unknown> = Record<string, unknown>>(
    text: string,
    params?: unknown[],
  ): Promise<R[]>;
  /** Waits for `count` messages on `topic` (read with kcat) and parses their values as events. */
  events(topic: string, count: number, timeoutMs?: number): Promise<ChangeEvent[]>;
}

/** `brokers`, `postgres`: a Kafka or PostgreSQL of the test's own instead of the shared one. */
export async function cdcFixture(
  prefix: string,
  options: { brokers?: string[]; postgres?: PostgresHandle } = {},
): Promise<CdcFixture> {
  const [pg, brokers] = await Promise.all([
    options.postgres ?? sharedPostgres(),
    options.brokers ?? sharedKafka(),
  ]);
  const database = await pg.createDatabase(prefix);
  const unique = randomUUID().slice(0, 8);
  return {
    pg,
    database,
    dsn: pg.urlFor(database),
    brokers,
    topic: (name) => `${prefix}.${unique}.${name}`,
    sql: (text, params) => pg.query(text, params, database),
    events: async (topic, count, timeoutMs) =>
      parseEvents(await readAtLeast(brokers, topic, count, timeoutMs)),
  };
}

export function parseEvents(messages: readonly ConsumedMessage[]): ChangeEvent[] {
  return messages.map((m) => JSON.parse(m.value ?? 'null') as ChangeEvent);
}

/** TOML for a postgres source reading `tables` of the fixture's database (publication pgrelay_NAME, the default). */
export function postgresSource(name: string, fixture: CdcFixture, tables: string[], extra = ''): string {
  return `
[sources.${name}]
type = "postgres"
dsn = "${fixture.dsn}"
slot = "pgrelay_${name}_${fixture.database}"
tables = ${JSON.stringify(tables)}
status_interval = "500ms"
retry_initial = "200ms"
retry_max = "2s"
${extra}
`;
}

/** TOML for a kafka sink to the fixture's Kafka. */
export function kafkaSink(name: string, fixture: CdcFixture, sources: string[], extra: string): string {
  return `
[sinks.${name}]
type = "kafka"
sources = ${JSON.stringify(sources)}
brokers = ${JSON.stringify(fixture.brokers)}
retry_initial = "100ms"
retry_max = "1s"
${extra}
`;
}

/**
 * SQL for a text of `bytes` random hex digits: lz4 (the Kafka sink's default compression) cannot
 * shrink it, so a row holding it stays as large in Kafka as it is in PostgreSQL.
 */
export function incompressibleText(bytes: number): string {
  return `(SELECT string_agg(md5(g || ':' || random()), '') FROM generate_series(1, ${Math.ceil(bytes / 32)}) g)`;
}
