import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { type CdcFixture, cdcFixture, kafkaSink, postgresSource } from '../harness/cdc.js';
import { KafkaServer } from '../harness/kafka.js';
import { readTopic } from '../harness/kcat.js';
import { PgrelayProcess } from '../harness/pgrelay.js';
import { waitFor } from '../harness/processes.js';
import { createTopics, topicSize, uniqueName, waitForSize } from '../harness/topics.js';
import { sharedKafka } from '../harness/services.js';
import { createLogger } from '../../src/core/log.js';
import { KafkaProducer } from '../../src/kafka/producer.js';
import { BatchEncoder, DeliveryPlan } from '../../src/sinks/kafka/requests.js';

async function delivered(relay: PgrelayProcess): Promise<number> {
  const stats = await relay.stats();
  return stats.sinks.out!.events_out;
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

  test('the first transaction on topics the broker creates on first use arrives once', async () => {
    // A fresh broker's first topics: their leaders settle while the first batches arrive, and the
    // broker answers "not the leader" for some partitions of a request. Sending that request again
    // whole wrote the others twice (reproduced on main with Kafka 4.1: KAFKA_VERSION=4.1.0).
    const kafka = await KafkaServer.start();
    cleanup.push(() => kafka.destroy());
    const fx = await cdcFixture('newtopics', { brokers: kafka.brokers });
    const tables = ['a', 'b', 'c', 'd'];
    for (const table of tables) await fx.sql(`CREATE TABLE ${table} (id int PRIMARY KEY)`);
    const relay = await PgrelayProcess.create(
      postgresSource(
        'db',
        fx,
        tables.map((t) => `public.${t}`),
      ) +
        kafkaSink(
          'out',
          fx,
          ['db'],
          `topic_map = { ${tables.map((t) => `"public.${t}" = "${fx.topic(t)}"`).join(', ')} }`,
        ),
    );
    cleanup.push(() => relay.destroy());
    await relay.start();
    await fx.sql(
      `BEGIN; ${tables.map((t) => `INSERT INTO ${t} SELECT g FROM generate_series(1, 500) g;`).join(' ')} COMMIT;`,
    );
    await waitFor(
      '2000 rows delivered',
      async () => ((await delivered(relay)) >= 2000 ? true : undefined),
      120_000,
      relay.logFile,
    );
    for (const table of tables) {
      assert.equal(await topicSize(kafka.brokers, fx.topic(table)), 500, `topic of ${table}`);
      assert.equal(await distinctIds(kafka.brokers, fx.topic(table)), 500);
    }
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

  test('a batch sent again after its answer was lost is written once; after a new producer id, sequences start over', async () => {
    const brokers = await sharedKafka();
    const topic = uniqueName('resend');
    await createTopics(brokers, [topic], 2);
    const producer = new KafkaProducer(
      { brokers, client_id: 'pgrelay-test', connect_timeout: 10_000 },
      'all',
      10_000,
      'test',
      createLogger('warn'),
    );
    cleanup.push(() => producer.close());
    await producer.open();
    const encoder = new BatchEncoder('none', 1 << 20);
    const target = { name: topic, partitions: 2, limit: 1 << 20, sticky: 0 };
    const deliver = async (first: number) => {
      const records = Array.from({ length: 100 }, (_, i) => ({
        key: String(first + i),
        value: String(first + i),
      }));
      const plan = new DeliveryPlan(
        records,
        records.map(() => target),
      );
      encoder.encode(plan);
      await producer.send(plan.batches);
      return plan;
    };
    const plan = await deliver(0);
    assert.ok(plan.batches.every((b) => b.state === 'acked'));
    assert.equal(await topicSize(brokers, topic), 100);
    // The answer was lost: the same bytes go again, and the broker knows them.
    for (const outgoing of plan.batches) outgoing.state = 'pending';
    await producer.send(plan.batches);
    assert.ok(plan.batches.every((b) => b.state === 'acked'));
    await deliver(100);
    assert.equal(await topicSize(brokers, topic), 200, 'the second copy was not written');
    await producer.resetProducerId();
    await deliver(200);
    assert.equal(await topicSize(brokers, topic), 300);
  });
});
