import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type CdcFixture, cdcFixture, kafkaSink, postgresSource } from '../harness/cdc.js';
import { readTopic } from '../harness/kcat.js';
import { PgrelayProcess } from '../harness/pgrelay.js';
import { createTopics } from '../harness/topics.js';

/**
 * batch_bytes bounds produce requests by real message bytes. Sources only estimate sizes, and rows
 * of many small columns under long names encode to JSON about twice the estimate: without the
 * sink's own accounting such a batch would exceed what the topic accepts.
 */
describe('Kafka sink: produce request size', () => {
  let fx: CdcFixture;
  let relay: PgrelayProcess;

  before(async () => {
    fx = await cdcFixture('reqsize');
    await createTopics(fx.brokers, [fx.topic('docs')], 1, { 'max.message.bytes': '65536' });
    const columns = Array.from({ length: 20 }, (_, i) => `a_rather_long_column_name_${i} int`).join(', ');
    await fx.sql(`CREATE TABLE docs (id int PRIMARY KEY, ${columns})`);
    relay = await PgrelayProcess.create(
      postgresSource('db', fx, ['docs']) +
        kafkaSink('out', fx, ['db'], `topic_fallback = "${fx.topic('docs')}"\nbatch_bytes = "48KB"`),
    );
    await relay.start();
  });

  after(async () => {
    await relay?.destroy();
  });

  test('a 1 MB transaction arrives whole, once, in order, with no request refused', async () => {
    const values = Array.from({ length: 20 }, (_, i) => `g % ${i + 2}`).join(', ');
    await fx.sql(`INSERT INTO docs SELECT g, ${values} FROM generate_series(1, 1000) g`);
    const events = await fx.events(fx.topic('docs'), 1000);
    assert.deepEqual(
      events.map((e) => e.columns!.id),
      Array.from({ length: 1000 }, (_, i) => i + 1),
    );
    assert.equal((await readTopic(fx.brokers, fx.topic('docs'))).length, 1000, 'no duplicates');
    const stats = await relay.stats();
    assert.equal(stats.sinks.out!.errors, 0, 'the broker never refused a request as too large');
  });
});
