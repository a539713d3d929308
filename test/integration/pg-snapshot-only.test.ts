import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type CdcFixture, cdcFixture, kafkaSink, parseEvents, postgresSource } from '../harness/cdc.js';
import { readTopic } from '../harness/kcat.js';
import { PgrelayProcess } from '../harness/pgrelay.js';
import { waitFor } from '../harness/processes.js';

/** snapshot = "initial_only": the rows once, then the source stops; no slot is left behind. */
describe('PostgreSQL → Kafka: snapshot = "initial_only"', () => {
  let fx: CdcFixture;
  let relay: PgrelayProcess;
  const stopped = () =>
    waitFor(
      'the source to finish its snapshot and stop',
      async () => {
        const source = (await relay.status()).sources.db!;
        const table = (source.snapshot as Record<string, { state: string }> | undefined)?.['public.rows'];
        return source.state === 'stopped' && table?.state === 'done' ? source : undefined;
      },
      60_000,
      relay.logFile,
    );

  before(async () => {
    fx = await cdcFixture('snaponly');
    await fx.sql('CREATE TABLE rows (id int PRIMARY KEY, name text)');
    await fx.sql(`INSERT INTO rows SELECT g, 'row ' || g FROM generate_series(1, 3000) g`);
    relay = await PgrelayProcess.create(
      postgresSource('db', fx, ['rows'], `snapshot = "initial_only"\nsnapshot_chunk = 1000`) +
        kafkaSink('out', fx, ['db'], `topic_fallback = "${fx.topic('rows')}"`),
    );
  });

  after(async () => {
    await relay?.destroy();
  });

  test('sends every row once as a snapshot event, then stops without a slot', async () => {
    await relay.start({ waitRunning: false });
    const source = await stopped();
    assert.equal(source.last_error, null, 'stopped, not failed');
    assert.equal(source.completed, true);
    assert.equal((await relay.get('/status')).status, 200, 'a source that completed its work is healthy');
    const events = parseEvents(await readTopic(fx.brokers, fx.topic('rows')));
    assert.equal(events.length, 3000);
    assert.ok(events.every((e) => e.action === 'snapshot'));
    assert.deepEqual(
      events.map((e) => e.columns!.id),
      Array.from({ length: 3000 }, (_, i) => i + 1),
    );
    const slots = await fx.sql(
      `SELECT slot_name FROM pg_replication_slots WHERE slot_name = 'pgrelay_db_${fx.database}'`,
    );
    assert.deepEqual(slots, [], 'no replication slot pins WAL for a source that never streams');
  });

  test('after a restart it stays stopped and sends nothing again, changes included', async () => {
    await fx.sql(`INSERT INTO rows VALUES (5000, 'after the snapshot')`);
    assert.equal(await relay.stop(), 0);
    await relay.start({ waitRunning: false });
    await stopped();
    assert.match(relay.log(), /the snapshot is complete: not streaming/);
    assert.equal((await readTopic(fx.brokers, fx.topic('rows'))).length, 3000);
  });
});
