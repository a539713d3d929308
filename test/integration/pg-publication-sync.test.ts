import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { type CdcFixture, cdcFixture, kafkaSink, parseEvents, postgresSource } from '../harness/cdc.js';
import { readTopic } from '../harness/kcat.js';
import { PgrelayProcess } from '../harness/pgrelay.js';
import { waitFor } from '../harness/processes.js';
import {
  editConfig,
  publishedTables,
  sourceGauge,
  waitForHealthy,
  waitForProblem,
  topicPerTable,
  assertLogged,
} from '../helpers/publications.js';

const ROWS = 200;

/**
 * A FOR TABLE publication loses a table that is dropped (recreating it does not bring it back),
 * and a table listed in `tables` later was never in it. pgrelay keeps the publications it created
 * in line with `tables` and backfills what was written while a table was out; a publication it did
 * not create is left alone, and every listed table it does not publish is a problem (503).
 */
describe('PostgreSQL source: publications follow tables', () => {
  const relays: PgrelayProcess[] = [];

  after(async () => {
    for (const relay of relays) await relay.destroy();
  });

  async function relayFor(fx: CdcFixture, tables: string[], extra = ''): Promise<PgrelayProcess> {
    const relay = await PgrelayProcess.create(
      postgresSource('db', fx, tables, extra) +
        kafkaSink('out', fx, ['db'], topicPerTable(fx, ['items', 'orders'])),
    );
    relays.push(relay);
    return relay;
  }

  const recreate = (fx: CdcFixture) =>
    fx.sql(`DROP TABLE items; CREATE TABLE items (id int PRIMARY KEY, note text);
      INSERT INTO items SELECT g, 'recreated' FROM generate_series(1, ${ROWS}) g`);

  /** The ids of the table's rows that reached the topic (streamed or backfilled), once each. */
  async function idsOnTopic(fx: CdcFixture, count: number): Promise<number[]> {
    const events = await fx.events(fx.topic('items'), count);
    return [...new Set(events.map((e) => e.columns!.id as number))].sort((a, b) => a - b);
  }

  const range = (first: number, last: number) =>
    Array.from({ length: last - first + 1 }, (_, i) => first + i);

  test('a table dropped and recreated while streaming is published again, and its rows arrive', async () => {
    const fx = await cdcFixture('recreate');
    await fx.sql('CREATE TABLE items (id int PRIMARY KEY, note text)');
    const relay = await relayFor(fx, ['items']);
    await relay.start();
    // At once, in one statement: rows written before pgrelay can notice.
    await recreate(fx);
    await waitFor(
      'the recreated table to be published again',
      async () => ((await publishedTables(fx, 'pgrelay_db')).includes('public.items') ? true : undefined),
      60_000,
      relay.logFile,
    );
    await fx.sql(`INSERT INTO items VALUES (${ROWS + 1}, 'after')`);
    assert.deepEqual(await idsOnTopic(fx, ROWS + 1), range(1, ROWS + 1));
    assertLogged(relay, /added public\.items to publication "pgrelay_db"/);
  });

  test('a table dropped and recreated while pgrelay was stopped: published at the start, rows backfilled', async () => {
    const fx = await cdcFixture('recreatestopped');
    await fx.sql('CREATE TABLE items (id int PRIMARY KEY, note text)');
    const relay = await relayFor(fx, ['items']);
    await relay.start();
    await fx.sql(`INSERT INTO items VALUES (0, 'before')`);
    await fx.events(fx.topic('items'), 1);
    assert.equal(await relay.stop(), 0);
    await recreate(fx);
    await relay.start();
    await fx.sql(`INSERT INTO items VALUES (${ROWS + 1}, 'after')`);
    assert.deepEqual(await idsOnTopic(fx, ROWS + 2), range(0, ROWS + 1));
  });

  test('a table listed later is added, its rows backfilled; one no longer listed is dropped', async () => {
    const fx = await cdcFixture('listed');
    await fx.sql('CREATE TABLE items (id int PRIMARY KEY); CREATE TABLE orders (id int PRIMARY KEY)');
    const relay = await relayFor(fx, ['items']);
    await relay.start();
    assert.equal(await relay.stop(), 0);
    await fx.sql('INSERT INTO orders SELECT g FROM generate_series(1, 10) g');
    editConfig(relay, 'tables = ["items"]', 'tables = ["items", "orders"]');
    await relay.start();
    assert.deepEqual(await publishedTables(fx, 'pgrelay_db'), ['public.items', 'public.orders']);
    await fx.sql('INSERT INTO orders VALUES (11)');
    // Row 11 streams as an insert; the backfill may read it too when its chunk comes after the insert
    // (a snapshot row is the row as it is then): wait for the insert and the ten rows from before.
    const orders = await waitFor(
      'the rows from before as snapshot events, and row 11 as an insert',
      async () => {
        const events = parseEvents(await readTopic(fx.brokers, fx.topic('orders')));
        const snapshot = new Set(events.filter((e) => e.action === 'snapshot').map((e) => e.columns!.id));
        const inserted = events.some((e) => e.action === 'insert' && e.columns!.id === 11);
        return inserted && range(1, 10).every((id) => snapshot.has(id)) ? events : undefined;
      },
      60_000,
      relay.logFile,
    );
    assert.deepEqual(
      [...new Set(orders.map((e) => e.columns!.id as number))].sort((a, b) => a - b),
      range(1, 11),
    );

    assert.equal(await relay.stop(), 0);
    editConfig(relay, 'tables = ["items", "orders"]', 'tables = ["orders"]');
    await relay.start();
    assert.deepEqual(await publishedTables(fx, 'pgrelay_db'), ['public.orders']);
  });

  test('tables switched to "*": the publication becomes FOR ALL TABLES, new tables stream', async () => {
    const fx = await cdcFixture('switchall');
    await fx.sql('CREATE TABLE items (id int PRIMARY KEY)');
    const relay = await relayFor(fx, ['items']);
    await relay.start();
    await fx.sql('INSERT INTO items VALUES (1)');
    await fx.events(fx.topic('items'), 1);
    assert.equal(await relay.stop(), 0);
    editConfig(relay, 'tables = ["items"]', 'tables = ["*"]');
    await fx.sql('INSERT INTO items VALUES (2)');
    await relay.start();
    const [publication] = await fx.sql<{ puballtables: boolean }>(
      `SELECT puballtables FROM pg_publication WHERE pubname = 'pgrelay_db'`,
    );
    assert.equal(publication!.puballtables, true);
    await fx.sql('CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders VALUES (7)');
    await fx.sql('INSERT INTO items VALUES (3)');
    assert.deepEqual(
      (await fx.events(fx.topic('items'), 3)).map((e) => e.columns!.id),
      [1, 2, 3],
      'replaced in one transaction: the stream went on without a gap',
    );
    assert.equal((await fx.events(fx.topic('orders'), 1))[0]!.columns!.id, 7);
  });

  test("a publication that is not pgrelay's: listed tables it does not publish are a problem", async () => {
    const fx = await cdcFixture('theirs');
    await fx.sql(`CREATE TABLE items (id int PRIMARY KEY); CREATE TABLE orders (id int PRIMARY KEY);
      CREATE PUBLICATION theirs FOR TABLE items`);
    const relay = await relayFor(fx, ['items', 'orders', 'nosuch'], 'publication = "theirs"');
    await relay.start({ waitRunning: false });
    const problem = await waitForProblem(relay, 'db', 'PGRELAY_PG_TABLES_UNPUBLISHED');
    assert.deepEqual(problem.items.sort(), ['public.nosuch', 'public.orders']);
    assert.match(problem.message, /public\.nosuch does not exist/);
    assert.match(problem.message, /publication "theirs" \(not pgrelay's\) does not publish public\.orders/);
    assert.match(problem.message, /ALTER PUBLICATION "theirs" ADD TABLE "public"\."orders"/);
    assert.equal(await sourceGauge(relay, 'pgrelay_source_unpublished_tables', 'db'), 2);
    assert.deepEqual(await publishedTables(fx, 'theirs'), ['public.items'], 'pgrelay leaves it alone');
    await fx.sql('INSERT INTO items VALUES (1)');
    await fx.events(fx.topic('items'), 1);

    // The operator adds the table and creates the missing one; a recreated table drops out again.
    await fx.sql('ALTER PUBLICATION theirs ADD TABLE orders; CREATE TABLE nosuch (id int PRIMARY KEY)');
    const left = await waitForProblem(
      relay,
      'db',
      'PGRELAY_PG_TABLES_UNPUBLISHED',
      (p) => p.items.length === 1,
    );
    assert.deepEqual(left.items, ['public.nosuch']);
    await fx.sql('DROP TABLE orders; CREATE TABLE orders (id int PRIMARY KEY)');
    await waitForProblem(relay, 'db', 'PGRELAY_PG_TABLES_UNPUBLISHED', (p) =>
      p.items.includes('public.orders'),
    );

    // Handed to pgrelay with its marker, it is kept in line with tables.
    await fx.sql(`COMMENT ON PUBLICATION theirs IS 'managed by pgrelay source "db"'`);
    await waitForHealthy(relay);
    assert.deepEqual(await publishedTables(fx, 'theirs'), ['public.items', 'public.nosuch', 'public.orders']);
  });
});
