import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type CdcFixture, cdcFixture, kafkaSink, postgresSource } from '../harness/cdc.js';
import { PgrelayProcess } from '../harness/pgrelay.js';

/** ALTER TABLE while streaming: events follow the table's new shape from the next change on. */
describe('PostgreSQL source: schema changes', () => {
  let fx: CdcFixture;
  let relay: PgrelayProcess;

  before(async () => {
    fx = await cdcFixture('schema');
    await fx.sql('CREATE TABLE items (id int PRIMARY KEY, price int, note text)');
    relay = await PgrelayProcess.create(
      postgresSource('db', fx, ['items']) +
        kafkaSink('out', fx, ['db'], `topic_fallback = "${fx.topic('items')}"`),
    );
    await relay.start();
  });

  after(async () => {
    await relay?.destroy();
  });

  test('added, dropped and retyped columns, and a new primary key', async () => {
    await fx.sql(`INSERT INTO items VALUES (1, 10, 'a')`);
    await fx.sql(`ALTER TABLE items ADD COLUMN tags text[] DEFAULT '{x}'`);
    await fx.sql(`INSERT INTO items VALUES (2, 20, 'b', '{y,z}')`);
    await fx.sql(`ALTER TABLE items DROP COLUMN note`);
    await fx.sql(`ALTER TABLE items ALTER COLUMN price TYPE numeric(10,2)`);
    await fx.sql(`INSERT INTO items VALUES (3, 30.5, '{}')`);
    await fx.sql(`ALTER TABLE items DROP CONSTRAINT items_pkey, ADD PRIMARY KEY (id, price)`);
    await fx.sql(`UPDATE items SET tags = '{w}' WHERE id = 3`);

    const events = await fx.events(fx.topic('items'), 4);
    assert.deepEqual(
      events.map((e) => e.columns),
      [
        { id: 1, price: 10, note: 'a' },
        { id: 2, price: 20, note: 'b', tags: ['y', 'z'] },
        { id: 3, price: '30.50', tags: [] },
        { id: 3, price: '30.50', tags: ['w'] },
      ],
    );
    assert.deepEqual(events[3]!.key, { id: 3, price: '30.50' }, 'the key follows the new primary key');
  });
});
