import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type CdcFixture, cdcFixture, kafkaSink, postgresSource } from '../harness/cdc.js';
import { PgrelayProcess } from '../harness/pgrelay.js';

const CODECS = ['gzip', 'snappy', 'lz4', 'zstd'] as const;

/** Every compression codec pgrelay offers is readable by an independent client (kcat, librdkafka). */
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
  });

  after(async () => {
    await relay?.destroy();
  });

  for (const codec of CODECS) {
    test(`${codec}: kcat reads back every message`, async () => {
      if (codec === CODECS[0]) {
        await fx.sql(
          `INSERT INTO items SELECT g, repeat('compressible ', 50) FROM generate_series(1, 300) g`,
        );
      }
      const events = await fx.events(fx.topic(codec), 300);
      assert.equal(events.length, 300);
      assert.deepEqual(
        events.map((e) => e.columns!.id),
        Array.from({ length: 300 }, (_, i) => i + 1),
      );
      assert.equal(events[0]!.columns!.body, 'compressible '.repeat(50));
    });
  }
});
