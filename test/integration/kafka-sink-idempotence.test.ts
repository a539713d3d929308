import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { type CdcFixture, cdcFixture, kafkaSink, postgresSource } from '../harness/cdc.js';
import { KafkaServer } from '../harness/kafka.js';
import { readTopic } from '../harness/kcat.js';
import { PgrelayProcess } from '../harness/pgrelay.js';
import { waitFor } from '../harness/processes.js';
import { topicSize, waitForSize } from '../harness/topics.js';

async function delivered(relay: PgrelayProcess): Promise<number> {
  const stats = (await (await relay.get('/stats')).json()) as { sinks: { out: { events_out: number } } };
  return stats.sinks.out.events_out;
}

/** Every row's id, once each: anything written twice shows as a size above the distinct count. */
async function distinctIds(brokers: string[], topic: string): Promise<number> {
  return new Set((await readTopic(brokers, topic)).map((m) => (JSON.parse(m.value!) as { id: string }).id))
    .size;
}

/**
 * The sink produces idempotently (acks = all): a batch sent again because its answer was lost or
 * its partition's leader moved is written once.
 */
describe('Kafka sink: retries never write twice', () => {
  const cleanup: (() => Promise<void>)[] = [];
  after(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  async function relayFor(fx: CdcFixture, table: string): Promise<PgrelayProcess> {
    const relay = await PgrelayProcess.create(
      postgresSource('db', fx, [table]) +
        kafkaSink('out', fx, ['db'], `topic_fallback = "${fx.topic(table)}"\nrequest_timeout = "5s"`),
    );
    cleanup.push(() => relay.destroy());
    await relay.start();
    return relay;
  }

  test('the first transaction on a topic the broker creates on first use arrives once', async () => {
    const fx = await cdcFixture('newtopic');
    await fx.sql('CREATE TABLE items (id int PRIMARY KEY)');
    const relay = await relayFor(fx, 'items');
    await fx.sql('INSERT INTO items SELECT g FROM generate_series(1, 5000) g');
    await waitFor(
      '5000 rows delivered',
      async () => ((await delivered(relay)) >= 5000 ? true : undefined),
      120_000,
      relay.logFile,
    );
    assert.equal(await topicSize(fx.brokers, fx.topic('items')), 5000);
    assert.equal(await distinctIds(fx.brokers, fx.topic('items')), 5000);
  });

  test('a broker restart in the middle of a large transaction: every row once', async () => {
    const kafka = await KafkaServer.start();
    cleanup.push(() => kafka.destroy());
    const fx = await cdcFixture('restart', { brokers: kafka.brokers });
    await fx.sql('CREATE TABLE users (id int PRIMARY KEY, name text, note text)');
    const relay = await relayFor(fx, 'users');
    const rows = 200_000;
    await fx.sql(
      `INSERT INTO users SELECT g, 'user ' || g, repeat('n', 200) FROM generate_series(1, ${rows}) g`,
    );
    await waitFor(
      'the delivery to be under way',
      async () =>
        (await topicSize(kafka.brokers, fx.topic('users')).catch(() => 0)) > rows / 10 ? true : undefined,
      120_000,
      relay.logFile,
    );
    await kafka.stop();
    await kafka.start();
    await waitFor(
      'every row delivered',
      async () => ((await delivered(relay)) >= rows ? true : undefined),
      300_000,
      relay.logFile,
    );
    assert.equal(await waitForSize(kafka.brokers, fx.topic('users'), rows), rows, 'nothing written twice');
    assert.equal(await distinctIds(kafka.brokers, fx.topic('users')), rows);
  });
});
