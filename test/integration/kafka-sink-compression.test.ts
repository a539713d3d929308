import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type CdcFixture, cdcFixture, kafkaSink, postgresSource } from '../harness/cdc.js';
import { readTopic } from '../harness/kcat.js';
import { PgrelayProcess } from '../harness/pgrelay.js';
import { waitForSize } from '../harness/topics.js';

const CODECS = ['gzip', 'snappy', 'lz4', 'zstd'] as const;
const TRANSACTIONS = 30;
const ROWS = 60;

/**
 * Every compression codec pgrelay offers is readable by an independent client (kcat, librdkafka),
 * also for batches over 64 KB: an LZ4 frame of two or more blocks (lz4js's were refused by brokers).
 */
describe('Kafka sink: compression', () => {
  let fx: CdcFixture;
  let relay: PgrelayProcess;

  before(async () => {
    fx = await cdcFixture('codecs');
    await fx.sql('CREATE TABLE items (id int PRIMARY KEY, body text)');
    relay = await PgrelayProcess.create(
      postgresSource('db', fx, ['items']) +
        CODECS.map((codec) =>
          kafkaSink(codec, fx, ['db'], `compression = "${codec}"\ntopic_fallback = "${fx.topic(codec)}"`),
        ).join(''),
    );
    await relay.start();
    // Each transaction is about 120 KB of hex text that compresses to about half: every batch of
    // the topic's one partition is over 64 KB, so LZ4 writes frames of several blocks.
    for (let t = 0; t < TRANSACTIONS; t++) {
      await fx.sql(
        `INSERT INTO items SELECT g, (SELECT string_agg(md5(g::text || '.' || x::text), '') FROM generate_series(1, 60) x)
         FROM generate_series(${t * ROWS + 1}, ${(t + 1) * ROWS}) g`,
      );
    }
  });

  after(async () => {
    await relay?.destroy();
  });

  for (const codec of CODECS) {
    test(`${codec}: kcat reads back every message of batches over 64 KB, once, in order`, async () => {
      const count = TRANSACTIONS * ROWS;
      assert.equal(await waitForSize(fx.brokers, fx.topic(codec), count), count);
      const events = (await readTopic(fx.brokers, fx.topic(codec))).map(
        (m) => JSON.parse(m.value!) as { columns: { id: number; body: string } },
      );
      assert.deepEqual(
        events.map((e) => e.columns.id),
        Array.from({ length: count }, (_, i) => i + 1),
      );
      for (const { columns } of events) assert.match(columns.body, /^[0-9a-f]{1920}$/);
      const stats = await relay.stats();
      assert.equal(stats.sinks[codec]!.errors, 0, 'the broker accepted every batch');
    });
  }
});
