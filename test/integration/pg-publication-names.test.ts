import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { type CdcFixture, cdcFixture, kafkaSink } from '../harness/cdc.js';
import { PgrelayProcess } from '../harness/pgrelay.js';
import { waitFor } from '../harness/processes.js';
import { assertLogged, editConfig, publishedTables, topicPerTable } from '../helpers/publications.js';

/**
 * The default publication is per source (pgrelay_<source name>), as slots are: two sources on one
 * database no longer share "pgrelay". A source that streamed with the old default keeps it.
 */
describe('PostgreSQL source: publication names', () => {
  const relays: PgrelayProcess[] = [];

  after(async () => {
    for (const relay of relays) await relay.destroy();
  });

  /** A source without a publication key. */
  const source = (name: string, fx: CdcFixture, table: string, extra = '') => `
[sources.${name}]
type = "postgres"
dsn = "${fx.dsn}"
slot = "pgrelay_${name}_${fx.database}"
tables = ["${table}"]
status_interval = "500ms"
retry_initial = "200ms"
${extra}
`;

  async function relayFor(fx: CdcFixture, body: string, sources: string[]): Promise<PgrelayProcess> {
    const relay = await PgrelayProcess.create(
      body + kafkaSink('out', fx, sources, topicPerTable(fx, ['items', 'orders'])),
    );
    relays.push(relay);
    return relay;
  }

  test('two sources on one database each get their own publication', async () => {
    const fx = await cdcFixture('pubnames');
    await fx.sql('CREATE TABLE items (id int PRIMARY KEY); CREATE TABLE orders (id int PRIMARY KEY)');
    const relay = await relayFor(fx, source('a', fx, 'items') + source('b', fx, 'orders'), ['a', 'b']);
    await relay.start();
    assert.deepEqual(await publishedTables(fx, 'pgrelay_a'), ['public.items']);
    assert.deepEqual(await publishedTables(fx, 'pgrelay_b'), ['public.orders']);
    await fx.sql('INSERT INTO items VALUES (1); INSERT INTO orders VALUES (2)');
    const [items, orders] = await Promise.all([
      fx.events(fx.topic('items'), 1),
      fx.events(fx.topic('orders'), 1),
    ]);
    assert.deepEqual([items[0]!.source, items[0]!.columns!.id], ['a', 1]);
    assert.deepEqual([orders[0]!.source, orders[0]!.columns!.id], ['b', 2]);
    const status = await relay.status();
    assert.equal(status.sources.a!.publication, 'pgrelay_a');
    assert.equal(status.sources.b!.publication, 'pgrelay_b');
  });

  test('a source that streamed with the old default "pgrelay" keeps it', async () => {
    const fx = await cdcFixture('publegacy');
    await fx.sql('CREATE TABLE items (id int PRIMARY KEY)');
    const relay = await relayFor(fx, source('db', fx, 'items', 'publication = "pgrelay"'), ['db']);
    await relay.start();
    await fx.sql('INSERT INTO items VALUES (1)');
    await fx.events(fx.topic('items'), 1);
    assert.equal(await relay.stop(), 0);

    // As an older pgrelay left it: no publication key, positions stored without the publication,
    // and the publication it created without pgrelay's marker.
    editConfig(relay, 'publication = "pgrelay"', '');
    await fx.sql('COMMENT ON PUBLICATION pgrelay IS NULL');
    const state = new Database(relay.stateFile);
    state.prepare(`UPDATE positions SET meta = json_remove(meta, '$.publication')`).run();
    state.close();
    await fx.sql('INSERT INTO items VALUES (2)');
    await relay.start();
    assert.equal((await relay.status()).sources.db!.publication, 'pgrelay');
    assertLogged(relay, /keeps streaming publication "pgrelay", the default before defaults were per source/);
    await fx.sql('INSERT INTO items VALUES (3)');
    assert.deepEqual(
      (await fx.events(fx.topic('items'), 3)).map((e) => e.columns!.id),
      [1, 2, 3],
    );
    assert.deepEqual(await fx.sql(`SELECT 1 FROM pg_publication WHERE pubname = 'pgrelay_db'`), []);
    const recordedPublication = () => {
      const db = new Database(relay.stateFile, { readonly: true });
      try {
        const row = db.prepare(`SELECT json_extract(meta, '$.publication') AS name FROM positions`).get() as
          { name: string | null } | undefined;
        return row?.name ?? undefined;
      } finally {
        db.close();
      }
    };
    const recorded = await waitFor(
      'the position to record its publication',
      () => Promise.resolve(recordedPublication()),
      30_000,
    );
    assert.equal(recorded, 'pgrelay');
  });

  test('a publication missing for a source that streamed is not created from now', async () => {
    const fx = await cdcFixture('pubgone');
    await fx.sql('CREATE TABLE items (id int PRIMARY KEY)');
    const relay = await relayFor(fx, source('db', fx, 'items'), ['db']);
    await relay.start();
    await fx.sql('INSERT INTO items VALUES (1)');
    await fx.events(fx.topic('items'), 1);
    assert.equal(await relay.stop(), 0);
    editConfig(relay, 'tables = ["items"]', 'tables = ["items"]\npublication = "renamed"');
    await fx.sql('INSERT INTO items VALUES (2)');
    await relay.start({ waitRunning: false });
    const status = await waitFor(
      'the source to fail',
      async () => {
        const body = await relay.status();
        return body.sources.db!.state === 'failed' ? body : undefined;
      },
      60_000,
      relay.logFile,
    );
    const error = status.sources.db!.last_error!;
    assert.equal(error.code, 'PGRELAY_PG_PUBLICATION_DROPPED');
    assert.match(
      error.message,
      /cannot decode its changes from \d+\/[0-9A-F]+: publication "renamed" does not exist/,
    );
    assert.match(error.message, /If publication was changed, set it back/);
    assert.deepEqual(await fx.sql(`SELECT 1 FROM pg_publication WHERE pubname = 'renamed'`), []);
  });
});
