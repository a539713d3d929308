import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type CdcFixture, cdcFixture, kafkaSink, parseEvents, postgresSource } from '../harness/cdc.js';
import { readTopic } from '../harness/kcat.js';
import { PgrelayProcess } from '../harness/pgrelay.js';
import { waitFor } from '../harness/processes.js';
import {
  ITEM_COLUMNS,
  ITEMS_TABLE,
  caughtUp,
  churn,
  differences,
  itemRows,
  lastPerKey,
} from '../helpers/churn.js';

const ROWS = 200_000;

/**
 * snapshot = "initial" on a database with 200k rows while transactions keep changing it: the
 * snapshot's rows, then the stream, reproduce the tables exactly.
 */
describe('PostgreSQL → Kafka: initial snapshot, consistent with the stream', () => {
  let fx: CdcFixture;
  let relay: PgrelayProcess;
  let load: ReturnType<typeof churn>;
  let changesDuringSnapshot = 0;

  before(async () => {
    fx = await cdcFixture('snap');
    await fx.sql(`CREATE TABLE items ${ITEMS_TABLE}`);
    await fx.sql(itemRows('items', ROWS));
    // No primary key: read by ctid; insert-only (published updates would need a replica identity).
    await fx.sql('CREATE TABLE lines (n int, line text)');
    await fx.sql(`INSERT INTO lines SELECT g, 'line ' || g FROM generate_series(1, 5000) g`);
    // Types whose text casts differ from their output (bool, inet, char(n)) and others with a mapping.
    await fx.sql(`CREATE TABLE orders (id int PRIMARY KEY, amount numeric(12,2), paid bool, tags text[],
      addr inet, code char(4), doc jsonb, data bytea, at timestamp, price money)`);
    await fx.sql(`INSERT INTO orders SELECT g, g * 1.5, g % 2 = 0, ARRAY['a', 'b' || g], '10.0.0.1', 'x',
      jsonb_build_object('n', 12345678901234567890, 'g', g), '\\xdeadbeef', '2026-01-02 03:04:05.5', g * 1000.5
      FROM generate_series(1, 3000) g`);
    relay = await PgrelayProcess.create(
      postgresSource(
        'db',
        fx,
        ['items', 'lines', 'orders'],
        `snapshot = "initial"\nsnapshot_chunk = 5000\nsnapshot_where = { "orders" = "id > 1000" }\ninsert_only_tables = ["lines"]`,
      ) +
        kafkaSink(
          'out',
          fx,
          ['db'],
          `topic_map = { "public.items" = "${fx.topic('items')}", "public.lines" = "${fx.topic('lines')}", "public.orders" = "${fx.topic('orders')}" }`,
        ),
    );
  });

  after(async () => {
    await load?.stop();
    await relay?.destroy();
  });

  test('while transactions run, the snapshot is taken and the stream follows it', async () => {
    load = churn(fx.dsn, 'items', ROWS + 1, `INSERT INTO lines VALUES (-1, 'live ' || clock_timestamp())`);
    await waitFor('the load to start', () => Promise.resolve(load.changes > 50 || undefined), 30_000);
    const before = load.changes;
    await relay.start();
    let firstShown: string[] | undefined;
    const status = await waitFor(
      'the snapshot to complete',
      async () => {
        const source = (await relay.status()).sources.db!;
        const tables = source.snapshot as Record<string, { state: string }> | undefined;
        if (tables !== undefined) firstShown ??= Object.keys(tables).sort();
        return tables && Object.values(tables).every((t) => t.state === 'done') ? tables : undefined;
      },
      120_000,
      relay.logFile,
    );
    changesDuringSnapshot = load.changes - before;
    // Listed from the start, the tables not read yet pending: never "every table done" too early.
    assert.deepEqual(firstShown, ['public.items', 'public.lines', 'public.orders']);
    assert.deepEqual(Object.keys(status).sort(), ['public.items', 'public.lines', 'public.orders']);
    // Changes after the snapshot, streamed; then quiet.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await load.stop();
    await caughtUp(relay, (text) => fx.sql(text));
    assert.ok(changesDuringSnapshot > 0, 'transactions ran while pgrelay took the snapshot');
  });

  test('the last event per key reproduces the table exactly', async () => {
    const { events, last } = await lastPerKey(fx.brokers, fx.topic('items'));
    const rows = await fx.sql(`SELECT ${ITEM_COLUMNS} FROM items ORDER BY id`);
    assert.deepEqual(differences(last, rows), []);

    const snapshot = events.filter((e) => e.action === 'snapshot');
    const lsns = new Set(snapshot.map((e) => e.lsn));
    assert.equal(lsns.size, 1, 'every snapshot row carries the consistent point');
    assert.ok(snapshot.length >= ROWS * 0.9, `${snapshot.length} snapshot rows`);
    assert.equal(new Set(snapshot.map((e) => e.id)).size, snapshot.length, 'snapshot ids are unique');
    const first = snapshot[0]!;
    assert.equal(
      first.id,
      `snapshot:${first.lsn}:public.items:${JSON.stringify([String(first.key!.id as number)])}`,
    );
    assert.equal(first.xid, null);
    assert.deepEqual(first.old, null);
    // The stream follows the snapshot (the topic has one partition, so its order is delivery order).
    const lastSnapshot = events.lastIndexOf(snapshot[snapshot.length - 1]!);
    const live = events.filter((e) => e.action !== 'snapshot');
    assert.ok(live.length > 0, 'changes were streamed after the snapshot');
    assert.ok(
      events.slice(0, lastSnapshot).every((e) => e.action === 'snapshot'),
      'snapshot rows come first',
    );
    process.stdout.write(
      `# snapshot: ${snapshot.length} rows, ${live.length} streamed changes, ${changesDuringSnapshot} transactions during the snapshot\n`,
    );
  });

  test('a table without a primary key arrives whole, keyed null', async () => {
    const events = parseEvents(await readTopic(fx.brokers, fx.topic('lines')));
    const rows = await fx.sql<{ n: number; line: string }>('SELECT n, line FROM lines');
    const sent = events.map((e) => JSON.stringify(e.columns)).sort();
    assert.deepEqual(sent, rows.map((r) => JSON.stringify(r)).sort());
    assert.ok(events.every((e) => e.key === null));
    assert.equal(events.filter((e) => e.action === 'snapshot').length >= 5000, true);
    assert.match(events[0]!.id, /^snapshot:[0-9A-F]+\/[0-9A-F]+:public\.lines:\(\d+,\d+\)$/);
  });

  test('snapshot_where limits the rows read; snapshot rows and streamed rows map values alike', async () => {
    await fx.sql('UPDATE orders SET amount = amount WHERE id IN (5, 2000)');
    const messages = await waitFor(
      'the two updates',
      async () => {
        const all = await readTopic(fx.brokers, fx.topic('orders'));
        return all.filter((m) => m.value?.includes('"action":"update"')).length >= 2 ? all : undefined;
      },
      60_000,
      relay.logFile,
    );
    const events = parseEvents(messages);
    const snapshot = events.filter((e) => e.action === 'snapshot');
    const ids = snapshot.map((e) => e.columns!.id as number).sort((a, b) => a - b);
    assert.deepEqual(
      ids,
      Array.from({ length: 2000 }, (_, i) => i + 1001),
    );
    // Byte for byte, as the consumer receives them.
    const columnsText = (action: string, id: number) =>
      /"columns":(\{.*\}),"old"/.exec(
        messages[events.findIndex((e) => e.action === action && e.key!.id === id)]!.value!,
      )![1];
    assert.equal(columnsText('snapshot', 2000), columnsText('update', 2000));
    assert.equal(
      columnsText('snapshot', 2000),
      '{"id":2000,"amount":"3000.00","paid":true,"tags":["a","b2000"],"addr":"10.0.0.1","code":"x   ",' +
        '"doc":{"g":2000,"n":12345678901234567890},"data":"3q2+7w==","at":"2026-01-02T03:04:05.500000",' +
        '"price":"2001000.00"}',
    );
    assert.ok(events.some((e) => e.action === 'update' && e.key!.id === 5));
  });
});
