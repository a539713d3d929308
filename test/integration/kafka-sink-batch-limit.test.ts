import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type CdcFixture, cdcFixture, kafkaSink, postgresSource } from '../harness/cdc.js';
import { readTopic } from '../harness/kcat.js';
import { PgrelayProcess } from '../harness/pgrelay.js';
import { createTopics, waitForSize } from '../harness/topics.js';

const ROWS = 150_000;

/**
 * Deliveries far larger than a topic accepts per batch (batch_size = 10000, batch_bytes = "4MB",
 * the broker's default max.message.bytes of 1 MB): each partition's batch is cut to what the topic
 * accepts, so nothing is refused and nothing written twice. pgrelay used to send such deliveries
 * whole, then again in halves when refused, writing the partitions already accepted twice.
 */
describe('Kafka sink: deliveries larger than a batch the topic accepts', () => {
  let fx: CdcFixture;
  let relay: PgrelayProcess;

  before(async () => {
    fx = await cdcFixture('batchlimit');
    await createTopics(fx.brokers, [fx.topic('users')], 4);
    await fx.sql('CREATE TABLE users (id int PRIMARY KEY, name text, email text, note text)');
    relay = await PgrelayProcess.create(
      postgresSource('db', fx, ['users']) +
        kafkaSink(
          'out',
          fx,
          ['db'],
          `topic_fallback = "${fx.topic('users')}"\nbatch_size = 10000\nbatch_bytes = "4MB"\nbuffer = "64MB"`,
        ),
    );
    await relay.start();
  });

  after(async () => {
    await relay?.destroy();
  });

  test(`one transaction of ${ROWS} rows arrives exactly once`, async () => {
    await fx.sql(
      `INSERT INTO users SELECT g, 'user ' || g, 'user' || g || '@example.com', repeat('n', 120) FROM generate_series(1, ${ROWS}) g`,
    );
    assert.equal(await waitForSize(fx.brokers, fx.topic('users'), ROWS, 300_000), ROWS);
    const ids = new Set(
      (await readTopic(fx.brokers, fx.topic('users'))).map(
        (m) => (JSON.parse(m.value!) as { id: string }).id,
      ),
    );
    assert.equal(ids.size, ROWS, 'every row once');
    await relay.waitRunning();
    const stats = await relay.stats();
    assert.equal(stats.sinks.out!.errors, 0, 'the broker refused no batch');
    const size = await waitForSize(fx.brokers, fx.topic('users'), ROWS);
    assert.equal(size, ROWS, 'and nothing more arrived later');
  });
});
