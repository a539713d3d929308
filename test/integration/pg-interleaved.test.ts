import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { type CdcFixture, cdcFixture, kafkaSink, postgresSource } from '../harness/cdc.js';
import { readTopic } from '../harness/kcat.js';
import { PgrelayProcess } from '../harness/pgrelay.js';

/** Transactions interleaving on two connections arrive whole, in commit order. */
describe('PostgreSQL → Kafka: interleaved transactions', () => {
  let fx: CdcFixture;
  let relay: PgrelayProcess;
  const clients: pg.Client[] = [];

  before(async () => {
    fx = await cdcFixture('interleave');
    await fx.sql(`CREATE TABLE items (id int PRIMARY KEY, tx text)`);
    relay = await PgrelayProcess.create(
      postgresSource('db', fx, ['items']) +
        kafkaSink('out', fx, ['db'], `topic_fallback = "${fx.topic('items')}"`),
    );
    await relay.start();
    for (let i = 0; i < 2; i++) {
      const client = new pg.Client({ connectionString: fx.dsn });
      await client.connect();
      clients.push(client);
    }
  });

  after(async () => {
    for (const client of clients) await client.end();
    await relay?.destroy();
  });

  test('a transaction that commits first is delivered first, whole, with ids unique per event', async () => {
    const [a, b] = clients as [pg.Client, pg.Client];
    await a.query('BEGIN');
    await a.query(`INSERT INTO items VALUES (1, 'A')`);
    await b.query('BEGIN');
    await b.query(`INSERT INTO items VALUES (2, 'B')`);
    await a.query(`INSERT INTO items VALUES (3, 'A')`);
    await b.query(`INSERT INTO items VALUES (4, 'B')`);
    await b.query('COMMIT');
    await a.query(`INSERT INTO items VALUES (5, 'A')`);
    await a.query('COMMIT');
    await a.query(`INSERT INTO items VALUES (6, 'C')`);

    const events = await fx.events(fx.topic('items'), 6);
    assert.deepEqual(
      events.map((e) => e.columns!.id),
      [2, 4, 1, 3, 5, 6],
    );
    assert.deepEqual(
      events.map((e) => e.columns!.tx),
      ['B', 'B', 'A', 'A', 'A', 'C'],
    );
    assert.equal(new Set(events.map((e) => e.id)).size, 6);
    const lsns = [...new Set(events.map((e) => e.lsn))];
    assert.equal(lsns.length, 3, 'one commit LSN per transaction');
    assert.deepEqual(
      events.filter((e) => e.columns!.tx === 'A').map((e) => e.id.split(':')[1]),
      ['0', '1', '2'],
    );

    // A graceful restart resumes after the last delivered transaction: nothing is sent twice.
    assert.equal(await relay.stop(), 0);
    await fx.sql(`INSERT INTO items VALUES (7, 'D')`);
    await relay.start();
    const after = await fx.events(fx.topic('items'), 7);
    const all = await readTopic(fx.brokers, fx.topic('items'));
    assert.equal(all.length, 7, 'no duplicates after a graceful restart');
    assert.equal(after.at(-1)!.columns!.id, 7);
  });
});
