import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type CdcFixture, cdcFixture, kafkaSink, parseEvents, postgresSource } from '../harness/cdc.js';
import { readTopic } from '../harness/kcat.js';
import { PgrelayProcess } from '../harness/pgrelay.js';
import { waitFor } from '../harness/processes.js';

const TRANSACTIONS = 40;
const ROWS_PER_TRANSACTION = 2500;
const TOTAL = TRANSACTIONS * ROWS_PER_TRANSACTION;

/** kill -9 in the middle of a large stream, then restart: every row arrives at least once. */
describe('PostgreSQL → Kafka: kill -9 mid-stream', () => {
  let fx: CdcFixture;
  let relay: PgrelayProcess;

  before(async () => {
    fx = await cdcFixture('kill');
    await fx.sql('CREATE TABLE rows (id int PRIMARY KEY, payload text)');
    relay = await PgrelayProcess.create(
      postgresSource('db', fx, ['rows']) +
        kafkaSink('out', fx, ['db'], `topic_fallback = "${fx.topic('rows')}"\nbatch_size = 500`),
    );
    // First start creates the slot; the backlog is written while pgrelay is down.
    await relay.start();
    assert.equal(await relay.stop(), 0);
    for (let t = 0; t < TRANSACTIONS; t++) {
      const from = t * ROWS_PER_TRANSACTION + 1;
      await fx.sql(
        `INSERT INTO rows SELECT g, repeat('x', 100) FROM generate_series(${from}, ${from + ROWS_PER_TRANSACTION - 1}) g`,
      );
    }
  });

  after(async () => {
    await relay?.destroy();
  });

  test('nothing is lost and duplicates stay bounded by what was in flight', async () => {
    await relay.start();
    await relay.waitForSink(
      'out',
      'a part of the backlog to be delivered',
      (c) => c.events_out >= TOTAL / 5,
      120_000,
    );
    await relay.kill();
    const beforeRestart = (await readTopic(fx.brokers, fx.topic('rows'))).length;
    assert.ok(beforeRestart < TOTAL, `the kill came mid-stream (${beforeRestart} of ${TOTAL} delivered)`);

    await relay.start();
    const events = await waitFor(
      'every row to arrive',
      async () => {
        const all = parseEvents(await readTopic(fx.brokers, fx.topic('rows')));
        return new Set(all.map((e) => e.columns!.id)).size >= TOTAL ? all : undefined;
      },
      180_000,
      relay.logFile,
    );
    const ids = new Set(events.map((e) => e.columns!.id as number));
    assert.equal(ids.size, TOTAL, 'every row arrived');
    for (let id = 1; id <= TOTAL; id++) assert.ok(ids.has(id), `row ${id} arrived`);
    const duplicates = events.length - TOTAL;
    // Redelivery starts at the last stored transaction end: at most the transactions in flight.
    assert.ok(
      duplicates <= beforeRestart,
      `duplicates (${duplicates}) only from what was delivered before the kill`,
    );
    const eventIds = new Set(events.map((e) => e.id));
    assert.equal(
      eventIds.size,
      TOTAL,
      'a redelivered row carries the same event id, so consumers can drop it',
    );
    process.stdout.write(
      `# kill -9: ${beforeRestart} delivered before the kill, ${duplicates} duplicates after restart\n`,
    );
  });
});
