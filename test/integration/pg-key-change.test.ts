import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type CdcFixture, cdcFixture, kafkaSink, parseEvents, postgresSource } from '../harness/cdc.js';
import { readTopic } from '../harness/kcat.js';
import { PgrelayProcess } from '../harness/pgrelay.js';

/** An update that changes a row's key: the old key is deleted, so "last event per key" stays true. */
describe('PostgreSQL source: key changes', () => {
  let fx: CdcFixture;
  let relay: PgrelayProcess;

  before(async () => {
    fx = await cdcFixture('keychange');
    await fx.sql(`CREATE TABLE items (id int PRIMARY KEY, name text);
      CREATE TABLE full_items (id int PRIMARY KEY, name text); ALTER TABLE full_items REPLICA IDENTITY FULL;`);
    relay = await PgrelayProcess.create(
      postgresSource('db', fx, ['items', 'full_items']) +
        kafkaSink('out', fx, ['db'], `topic_fallback = "${fx.topic('items')}"`),
    );
    await relay.start();
  });

  after(async () => {
    await relay?.destroy();
  });

  test('a delete of the old key comes before the update, on the old key; a plain update stays one event', async () => {
    await fx.sql(`INSERT INTO items VALUES (1, 'a'); INSERT INTO full_items VALUES (1, 'a')`);
    await fx.sql(`UPDATE items SET id = 2 WHERE id = 1`);
    await fx.sql(`UPDATE full_items SET id = 2 WHERE id = 1`);
    await fx.sql(`UPDATE items SET name = 'b' WHERE id = 2`);

    const events = await fx.events(fx.topic('items'), 7);
    assert.deepEqual(
      events.map((e) => [e.table, e.action, e.key]),
      [
        ['items', 'insert', { id: 1 }],
        ['full_items', 'insert', { id: 1 }],
        ['items', 'delete', { id: 1 }],
        ['items', 'update', { id: 2 }],
        ['full_items', 'delete', { id: 1 }],
        ['full_items', 'update', { id: 2 }],
        ['items', 'update', { id: 2 }],
      ],
    );
    assert.deepEqual(events[2]!.old, { id: 1 });
    assert.deepEqual(events[4]!.old, { id: 1, name: 'a' });
    assert.equal(events[2]!.lsn, events[3]!.lsn, 'one transaction');
    assert.notEqual(events[2]!.id, events[3]!.id);

    const messages = await readTopic(fx.brokers, fx.topic('items'));
    const lastPerKey = new Map(
      parseEvents(messages).map((event, i) => [`${event.table}:${messages[i]!.key}`, event.action]),
    );
    assert.equal(lastPerKey.get('items:{"id":1}'), 'delete');
    assert.equal(lastPerKey.get('full_items:{"id":1}'), 'delete');
  });
});
