import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import type { ChangeEvent } from '../../src/core/event.js';
import { lsnToBigInt } from '../../src/core/lsn.js';
import { kafkaSink, kafkaSource, table } from '../fixtures/configs.js';
import { relayMessages } from '../fixtures/events.js';
import { readTopic } from '../harness/kcat.js';
import { PgrelayProcess } from '../harness/pgrelay.js';
import { waitFor } from '../harness/processes.js';
import { sharedKafka, sharedPostgres } from '../harness/services.js';
import { committedOffsets, createTopics, produce, uniqueName, waitForSize } from '../harness/topics.js';

const ROWS = { db1: 200, db2: 300 };
const EDGE = 500;

describe('wiring PostgreSQL and Kafka sources to several sinks', () => {
  const processes: PgrelayProcess[] = [];
  const slots: { database: string; slot: string }[] = [];
  after(async () => {
    for (const p of processes) await p.destroy();
    const postgres = await sharedPostgres();
    for (const { database, slot } of slots) {
      await postgres.query('SELECT pg_drop_replication_slot($1)', [slot], database).catch(() => undefined);
    }
  });

  it('runs two databases, a Kafka source, two Kafka sinks and a stub sink at once, each getting what it is wired to', async () => {
    const [brokers, postgres] = await Promise.all([sharedKafka(), sharedPostgres()]);
    const prefix = uniqueName('wiring');
    const [edge, central, archive] = [`${prefix}.edge`, `${prefix}.central`, `${prefix}.archive`];
    await createTopics(brokers, [edge], 2);
    await createTopics(brokers, [central, archive], 3);
    const databases = {
      db1: await postgres.createDatabase('wiring1'),
      db2: await postgres.createDatabase('wiring2'),
    };
    let config = '';
    for (const [source, database] of Object.entries(databases)) {
      await postgres.query('CREATE TABLE items (id int PRIMARY KEY, name text)', [], database);
      const slot = `pgrelay_${randomBytes(4).toString('hex')}`;
      slots.push({ database, slot });
      config += table(`sources.${source}`, {
        type: 'postgres',
        dsn: postgres.urlFor(database),
        tables: ['public.items'],
        slot,
      });
    }
    config +=
      kafkaSource('edge', { brokers, topics: [edge], group_id: `${prefix}-group` }) +
      // Two databases and the Kafka source into one topic.
      kafkaSink('central', {
        brokers,
        sources: ['db1', 'db2', 'edge'],
        topic_map: { 'public.items': central },
      }) +
      // One source feeding several sinks: db1 goes to central and archive, each acknowledging on its own.
      kafkaSink('archive', { brokers, sources: ['db1'], topic_map: { 'public.items': archive } }) +
      table('sinks.audit', { type: 'stub', sources: ['db2', 'edge'] });
    const relay = await PgrelayProcess.create(config);
    processes.push(relay);
    await relay.start();

    for (const [source, database] of Object.entries(databases)) {
      const rows = ROWS[source as keyof typeof ROWS];
      await postgres.query(
        `INSERT INTO items SELECT g, $1 || ' row ' || g FROM generate_series(1, ${rows}) g`,
        [source],
        database,
      );
    }
    await produce(brokers, edge, relayMessages(EDGE));

    await waitForSize(brokers, central, ROWS.db1 + ROWS.db2 + EDGE, 60_000);
    await waitForSize(brokers, archive, ROWS.db1, 60_000);
    const bySource = new Map<string, ChangeEvent[]>();
    for (const message of await readTopic(brokers, central)) {
      const event = JSON.parse(message.value!) as ChangeEvent;
      bySource.set(event.source, [...(bySource.get(event.source) ?? []), event]);
    }
    assert.deepEqual([...bySource.keys()].sort(), ['db1', 'db2', 'edge-db']);
    for (const source of ['db1', 'db2'] as const) {
      const events = bySource.get(source)!;
      assert.equal(events.length, ROWS[source]);
      assert.ok(events.every((e) => e.database === databases[source] && e.action === 'insert'));
      assert.deepEqual(
        events.map((e) => e.columns!.name).sort(),
        Array.from({ length: ROWS[source] }, (_, i) => `${source} row ${i + 1}`).sort(),
      );
    }
    assert.equal(bySource.get('edge-db')!.length, EDGE);
    const archived = (await readTopic(brokers, archive)).map((m) => JSON.parse(m.value!) as ChangeEvent);
    assert.equal(archived.length, ROWS.db1);
    assert.ok(archived.every((e) => e.source === 'db1'));

    const audit = await waitFor(
      'the stub sink to take db2 and the Kafka source',
      async () => {
        const stats = await relay.stats();
        return stats.sinks.audit!.events_out === ROWS.db2 + EDGE ? stats : undefined;
      },
      20_000,
    );
    assert.equal(audit.sinks.central!.events_out, ROWS.db1 + ROWS.db2 + EDGE);
    assert.equal(audit.sinks.archive!.events_out, ROWS.db1);

    // Every sink acknowledged everything, so every source position moved to the end.
    await waitFor(
      'the Kafka source to commit every offset',
      async () => {
        const offsets = await committedOffsets(brokers, `${prefix}-group`, edge);
        return [...offsets.values()].reduce((a, b) => a + b, 0) === EDGE ? true : undefined;
      },
      20_000,
    );
    const status = await relay.status();
    assert.equal(status.status, 'ok');
    for (const source of ['db1', 'db2'] as const) {
      const [current] = await postgres.query<{ lsn: string }>(
        'SELECT pg_current_wal_lsn()::text AS lsn',
        [],
        databases[source],
      );
      const position = status.sources[source]!.position;
      assert.ok(position !== null && position !== '0/0', `${source} position ${position}`);
      assert.ok(
        lsnToBigInt(position) <= lsnToBigInt(current!.lsn),
        `${source} position ${position} not past the server's end`,
      );
    }
    assert.equal(await relay.stop(), 0);
  });
});
