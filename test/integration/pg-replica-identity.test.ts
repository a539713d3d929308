import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { type CdcFixture, cdcFixture, kafkaSink, postgresSource } from '../harness/cdc.js';
import { PgrelayProcess } from '../harness/pgrelay.js';
import { waitFor } from '../harness/processes.js';
import {
  publishedTables,
  sourceGauge,
  sourceProblems,
  waitForHealthy,
  waitForProblem,
  topicPerTable,
  assertLogged,
} from '../helpers/publications.js';

/**
 * A published table without a replica identity makes the application's UPDATE and DELETE fail
 * ("cannot update table ... because it does not have a replica identity and publishes updates").
 * pgrelay never publishes such a table for updates, says so (503, a named problem, a gauge), and
 * reports one that a publication it does not own publishes.
 */
describe('PostgreSQL source: tables without a replica identity', () => {
  const relays: PgrelayProcess[] = [];

  after(async () => {
    for (const relay of relays) await relay.destroy();
  });

  /** The source, and a sink routing items and audit_log to their topics. */
  async function relayFor(fx: CdcFixture, source: string): Promise<PgrelayProcess> {
    const relay = await PgrelayProcess.create(
      source + kafkaSink('out', fx, ['db'], topicPerTable(fx, ['items', 'audit_log'])),
    );
    relays.push(relay);
    await relay.start({ waitRunning: false });
    return relay;
  }

  test('a listed table without one is not published; the application keeps writing; fixed, it streams', async () => {
    const fx = await cdcFixture('identity');
    await fx.sql(`CREATE TABLE items (id int PRIMARY KEY, n int);
      CREATE TABLE audit_log (at timestamptz DEFAULT now(), note text);
      INSERT INTO audit_log (note) VALUES ('before')`);
    const relay = await relayFor(fx, postgresSource('db', fx, ['items', 'audit_log']));

    const problem = await waitForProblem(relay, 'db', 'PGRELAY_PG_REPLICA_IDENTITY');
    assert.deepEqual(problem.items, ['public.audit_log']);
    assert.match(
      problem.message,
      /public\.audit_log has no replica identity, so pgrelay does not publish it/,
    );
    assert.match(
      problem.message,
      /ALTER TABLE public\.audit_log REPLICA IDENTITY FULL, or give it a primary key/,
    );
    assert.match(problem.message, /insert_only_tables/);
    assert.equal(await sourceGauge(relay, 'pgrelay_source_unpublished_tables', 'db'), 1);
    assert.deepEqual(await publishedTables(fx, 'pgrelay_db'), ['public.items']);
    assertLogged(relay, /^source db: public\.audit_log has no replica identity/);

    // The application's writes work; the other table streams.
    await fx.sql(`UPDATE audit_log SET note = 'updated'`);
    await fx.sql(`DELETE FROM audit_log`);
    await fx.sql('INSERT INTO items VALUES (1, 1)');
    assert.equal((await fx.events(fx.topic('items'), 1))[0]!.columns!.id, 1);

    // The operator gives the table an identity: pgrelay publishes it within status_interval.
    await fx.sql('ALTER TABLE audit_log REPLICA IDENTITY FULL');
    await waitForHealthy(relay);
    assert.deepEqual(await publishedTables(fx, 'pgrelay_db'), ['public.audit_log', 'public.items']);
    assert.equal(await sourceGauge(relay, 'pgrelay_source_unpublished_tables', 'db'), 0);
    await fx.sql(`INSERT INTO audit_log (note) VALUES ('streamed')`);
    await fx.sql(`UPDATE audit_log SET note = 'streamed too'`);
    const audit = await fx.events(fx.topic('audit_log'), 2);
    assert.deepEqual(
      audit.map((e) => [e.action, e.columns!.note]),
      [
        ['insert', 'streamed'],
        ['update', 'streamed too'],
      ],
    );
  });

  test("a table that loses its key while streaming leaves pgrelay's publication; with a key again it is backfilled", async () => {
    const fx = await cdcFixture('identitylost');
    await fx.sql(`CREATE TABLE items (id int PRIMARY KEY, n int);
      INSERT INTO items SELECT g, g FROM generate_series(1, 5) g`);
    const relay = await relayFor(fx, postgresSource('db', fx, ['items']));
    await waitForHealthy(relay);

    await fx.sql('ALTER TABLE items DROP CONSTRAINT items_pkey');
    // PostgreSQL fails the application's UPDATE from now until pgrelay takes the table out.
    const problem = await waitForProblem(relay, 'db', 'PGRELAY_PG_REPLICA_IDENTITY');
    assert.deepEqual(problem.items, ['public.items']);
    assert.deepEqual(await publishedTables(fx, 'pgrelay_db'), []);
    await fx.sql('UPDATE items SET n = n + 10');
    await fx.sql('DELETE FROM items WHERE id = 5');

    await fx.sql('ALTER TABLE items ADD PRIMARY KEY (id)');
    await waitForHealthy(relay);
    // Its rows written meanwhile were not streamed: the backfill sends the table as it is.
    const events = await fx.events(fx.topic('items'), 4);
    assert.deepEqual(events.map((e) => [e.action, e.columns!.id, e.columns!.n]).sort(), [
      ['snapshot', 1, 11],
      ['snapshot', 2, 12],
      ['snapshot', 3, 13],
      ['snapshot', 4, 14],
    ]);
    assert.match(
      relay.log(),
      /rows written to public\.items before it was published were not streamed: backfill/,
    );
  });

  test('tables = ["*"] is refused while a table has no replica identity: nothing is created', async () => {
    const fx = await cdcFixture('identityall');
    await fx.sql(`CREATE TABLE items (id int PRIMARY KEY, n int);
      CREATE TABLE audit_log (note text); INSERT INTO audit_log VALUES ('x')`);
    const relay = await relayFor(fx, postgresSource('db', fx, ['*']));
    const status = await waitFor(
      'the source to fail',
      async () => {
        const { body } = await sourceProblems(relay, 'db');
        return body.sources.db!.state === 'failed' ? body : undefined;
      },
      60_000,
      relay.logFile,
    );
    const error = status.sources.db!.last_error!;
    assert.equal(error.code, 'PGRELAY_PG_REPLICA_IDENTITY');
    assert.match(error.message, /FOR ALL TABLES, which publishes updates and deletes of every table/);
    assert.match(error.message, /no replica identity: public\.audit_log\./);
    assert.match(error.message, /ALTER TABLE public\.audit_log REPLICA IDENTITY FULL/);
    assert.equal((await relay.get('/status')).status, 503);
    assert.deepEqual(await fx.sql(`SELECT pubname FROM pg_publication`), []);
    await fx.sql(`UPDATE audit_log SET note = 'y'`);
    await fx.sql(`DELETE FROM audit_log`);
  });

  test("a publication that is not pgrelay's and publishes a table without one is reported", async () => {
    const fx = await cdcFixture('identitytheirs');
    await fx.sql(`CREATE TABLE items (id int PRIMARY KEY, n int);
      CREATE TABLE audit_log (note text);
      CREATE PUBLICATION theirs FOR TABLE items, audit_log`);
    const relay = await relayFor(
      fx,
      postgresSource('db', fx, [], 'publication = "theirs"\ncreate_publication = false'),
    );
    const problem = await waitForProblem(relay, 'db', 'PGRELAY_PG_UPDATES_FAIL');
    assert.deepEqual(problem.items, ['public.audit_log']);
    assert.match(
      problem.message,
      /publication "theirs" publishes public\.audit_log without a replica identity: the application's UPDATE and DELETE on it fail/,
    );
    assert.match(problem.message, /ALTER PUBLICATION "theirs" DROP TABLE/);
    assert.equal(await sourceGauge(relay, 'pgrelay_source_tables_without_replica_identity', 'db'), 1);
    await assert.rejects(fx.sql(`UPDATE audit_log SET note = 'y'`), /does not have a replica identity/);

    await fx.sql('ALTER PUBLICATION theirs DROP TABLE audit_log');
    await waitForHealthy(relay);
    assert.equal(await sourceGauge(relay, 'pgrelay_source_tables_without_replica_identity', 'db'), 0);
    await fx.sql(`UPDATE audit_log SET note = 'y'`);
  });
});
