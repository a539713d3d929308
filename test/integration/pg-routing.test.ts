import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type CdcFixture, cdcFixture, kafkaSink, postgresSource } from '../harness/cdc.js';
import { readAtLeast } from '../harness/kcat.js';
import { PgrelayProcess } from '../harness/pgrelay.js';

/** Topics by exact map, by regular expression (partitions of a partitioned table) and by fallback. */
describe('PostgreSQL → Kafka: topic routing', () => {
  let fx: CdcFixture;
  let relay: PgrelayProcess;

  before(async () => {
    fx = await cdcFixture('routing');
    await fx.sql(`
      CREATE TABLE users (id int PRIMARY KEY, name text);
      CREATE TABLE audit (id int PRIMARY KEY, note text);
      CREATE TABLE orders (id int, year int, PRIMARY KEY (id, year)) PARTITION BY LIST (year);
      CREATE TABLE orders_2024 PARTITION OF orders FOR VALUES IN (2024);
      CREATE TABLE orders_2025 PARTITION OF orders FOR VALUES IN (2025);`);
    relay = await PgrelayProcess.create(
      postgresSource('db', fx, ['users', 'audit', 'orders']) +
        kafkaSink(
          'mapped',
          fx,
          ['db'],
          `topic_map = { "public.users" = "${fx.topic('users')}" }
topic_routes = { "^public\\\\.orders_\\\\d+$" = "${fx.topic('orders')}" }
topic_fallback = "${fx.topic('unmapped')}"`,
        ) +
        // A bare table name, as psql-streamer's tableTopicMapping has it: public.users.
        kafkaSink('strict', fx, ['db'], `topic_map = { users = "${fx.topic('strict-users')}" }`),
    );
    await relay.start();
  });

  after(async () => {
    await relay?.destroy();
  });

  test('map, regex route, fallback; unmapped events without a fallback are dropped and counted', async () => {
    await fx.sql(`INSERT INTO users VALUES (1, 'ann'), (2, 'bob')`);
    await fx.sql(`INSERT INTO orders VALUES (10, 2024), (11, 2025), (12, 2025)`);
    await fx.sql(`INSERT INTO audit VALUES (1, 'x')`);

    const users = await fx.events(fx.topic('users'), 2);
    assert.deepEqual(
      users.map((e) => e.columns!.name),
      ['ann', 'bob'],
    );
    const orders = await fx.events(fx.topic('orders'), 3);
    assert.deepEqual(orders.map((e) => e.table).sort(), ['orders_2024', 'orders_2025', 'orders_2025']);
    const unmapped = await fx.events(fx.topic('unmapped'), 1);
    assert.equal(unmapped[0]!.table, 'audit');
    const strict = await fx.events(fx.topic('strict-users'), 2);
    assert.equal(strict.length, 2);

    // The strict sink dropped the 4 events it has no topic for; they still count as handled.
    const stats = await relay.stats();
    assert.equal(stats.sinks.strict!.dropped.unmapped, 4);
    assert.equal(stats.sinks.strict!.events_out, 2, 'dropped events are not counted as delivered');
    assert.equal(stats.sinks.mapped!.dropped.unmapped, undefined);
    const metrics = await (await relay.get('/metrics')).text();
    assert.match(
      metrics,
      /pgrelay_events_dropped_total\{component="strict",role="sink",type="kafka",reason="unmapped"\} 4/,
    );
    assert.match(relay.log(), /no topic for public\.audit/);

    const more = await readAtLeast(fx.brokers, fx.topic('orders'), 3);
    assert.equal(new Set(more.map((m) => m.key)).size, 3, 'each order keeps its own key');
  });
});
