import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { type CdcFixture, cdcFixture, kafkaSink, postgresSource } from '../harness/cdc.js';
import { PgrelayProcess } from '../harness/pgrelay.js';
import {
  editConfig,
  publishedTables,
  topicPerTable,
  waitForHealthy,
  assertLogged,
} from '../helpers/publications.js';

/**
 * insert_only_tables: tables without a replica identity whose inserts stream, published in a
 * publication of their own that publishes inserts and truncates only, so the application's UPDATE
 * and DELETE on them keep working.
 */
describe('PostgreSQL source: insert_only_tables', () => {
  const relays: PgrelayProcess[] = [];

  after(async () => {
    for (const relay of relays) await relay.destroy();
  });

  async function relayFor(fx: CdcFixture, tables: string[], extra: string): Promise<PgrelayProcess> {
    const relay = await PgrelayProcess.create(
      postgresSource('db', fx, tables, extra) +
        kafkaSink('out', fx, ['db'], topicPerTable(fx, ['items', 'audit_log'])),
    );
    relays.push(relay);
    return relay;
  }

  test('inserts and truncates stream; the application updates and deletes', async () => {
    const fx = await cdcFixture('insertonly');
    await fx.sql('CREATE TABLE audit_log (at timestamptz DEFAULT now(), note text)');
    const relay = await relayFor(fx, ['audit_log'], 'insert_only_tables = ["audit_log"]');
    await relay.start();
    assert.deepEqual(await publishedTables(fx, 'pgrelay_db_insert_only'), ['public.audit_log']);
    const [publication] = await fx.sql<{ pubupdate: boolean; pubdelete: boolean }>(
      `SELECT pubupdate, pubdelete FROM pg_publication WHERE pubname = 'pgrelay_db_insert_only'`,
    );
    assert.deepEqual(publication, { pubupdate: false, pubdelete: false });

    await fx.sql(`INSERT INTO audit_log (note) VALUES ('one')`);
    await fx.sql(`UPDATE audit_log SET note = 'changed'`);
    await fx.sql(`DELETE FROM audit_log`);
    await fx.sql(`INSERT INTO audit_log (note) VALUES ('two')`);
    await fx.sql('TRUNCATE audit_log');
    const events = await fx.events(fx.topic('audit_log'), 3);
    assert.deepEqual(
      events.map((e) => [e.action, e.columns?.note ?? null]),
      [
        ['insert', 'one'],
        ['insert', 'two'],
        ['truncate', null],
      ],
    );
    assert.equal((await relay.get('/status')).status, 200);
  });

  test('added to a source that streams: its publication joins once PostgreSQL can decode with it', async () => {
    const fx = await cdcFixture('insertonlylate');
    await fx.sql(`CREATE TABLE items (id int PRIMARY KEY);
      CREATE TABLE audit_log (at timestamptz DEFAULT now(), note text)`);
    const relay = await relayFor(fx, ['items'], '');
    await relay.start();
    await fx.sql('INSERT INTO items VALUES (1)');
    await fx.events(fx.topic('items'), 1);
    assert.equal(await relay.stop(), 0);

    editConfig(
      relay,
      'tables = ["items"]',
      'tables = ["items", "audit_log"]\ninsert_only_tables = ["audit_log"]',
    );
    await fx.sql('INSERT INTO items VALUES (2)');
    await relay.start({ waitRunning: false });
    // Created after the stored position: a session naming it would fail on every transaction
    // since (PostgreSQL decodes each with the publications that existed when it began).
    await waitForHealthy(relay);
    assertLogged(relay, /starting the stream again, with publication "pgrelay_db_insert_only"/);
    assert.deepEqual(await publishedTables(fx, 'pgrelay_db_insert_only'), ['public.audit_log']);
    await fx.sql(`INSERT INTO audit_log (note) VALUES ('streamed')`);
    await fx.sql(`UPDATE audit_log SET note = 'changed'`);
    await fx.sql('INSERT INTO items VALUES (3)');
    const audit = await fx.events(fx.topic('audit_log'), 1);
    assert.deepEqual(
      audit.map((e) => [e.action, e.columns!.note]),
      [['insert', 'streamed']],
    );
    const items = await fx.events(fx.topic('items'), 3);
    assert.deepEqual(
      items.map((e) => e.columns!.id),
      [1, 2, 3],
      'nothing of the other tables was lost or sent twice across the restart of the stream',
    );
  });
});
