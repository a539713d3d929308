import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { type CdcFixture, cdcFixture, kafkaSink, postgresSource } from '../harness/cdc.js';
import { type StatusBody, PgrelayProcess } from '../harness/pgrelay.js';
import { pgrelay } from '../helpers/cli.js';
import { waitFor } from '../harness/processes.js';

/** What an operator must fix is a named failure with HTTP 503, not a crash loop and not a skip. */
describe('PostgreSQL source: named failures', () => {
  const relays: PgrelayProcess[] = [];

  after(async () => {
    for (const relay of relays) await relay.destroy();
  });

  async function relayFor(fx: CdcFixture, extra = '', dsn?: string): Promise<PgrelayProcess> {
    const fixture = dsn === undefined ? fx : { ...fx, dsn };
    const relay = await PgrelayProcess.create(
      postgresSource('db', fixture, ['items'], extra) +
        kafkaSink('out', fx, ['db'], `topic_fallback = "${fx.topic('items')}"`),
    );
    relays.push(relay);
    return relay;
  }

  async function failedWith(relay: PgrelayProcess, code: string): Promise<StatusBody> {
    const status = await waitFor(
      `source to fail with ${code}`,
      async () => {
        const body = await relay.status();
        return body.sources.db!.state === 'failed' ? body : undefined;
      },
      30_000,
      relay.logFile,
    );
    assert.equal(status.sources.db!.last_error?.code, code, JSON.stringify(status.sources.db!.last_error));
    const response = await relay.get('/status');
    assert.equal(response.status, 503);
    return status;
  }

  test('a slot dropped while pgrelay was down stops the source instead of recreating it from now', async () => {
    const fx = await cdcFixture('dropped');
    await fx.sql('CREATE TABLE items (id int PRIMARY KEY)');
    const relay = await relayFor(fx);
    await relay.start();
    await fx.sql('INSERT INTO items VALUES (1)');
    await fx.events(fx.topic('items'), 1);
    assert.equal(await relay.stop(), 0);
    await fx.sql(`SELECT pg_drop_replication_slot('pgrelay_db_${fx.database}')`);
    await fx.sql('INSERT INTO items VALUES (2)');
    await relay.start({ waitRunning: false });
    const status = await failedWith(relay, 'PGRELAY_PG_SLOT_MISSING');
    assert.match(
      status.sources.db!.last_error!.message,
      /does not exist, but pgrelay streamed from it up to/,
    );
    assert.match(status.sources.db!.last_error!.message, /pgrelay reset-position/);
    const slots = await fx.sql(
      `SELECT 1 FROM pg_replication_slots WHERE slot_name = 'pgrelay_db_${fx.database}'`,
    );
    assert.equal(slots.length, 0, 'the slot was not silently recreated');
    assert.equal((await relay.get('/health')).status, 200, 'the process stays up to answer');

    // The operator accepts the gap: reset-position refuses while pgrelay runs, works once it stopped.
    const reset = () => pgrelay(['reset-position', '-c', relay.configFile, '--source', 'db']);
    const refused = await reset();
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /is running on .*: stop it first/);
    await relay.stop();
    const done = await reset();
    assert.equal(done.code, 0);
    assert.match(done.stdout, /^db: forgot \d+\/[0-9A-F]+\n$/);
    await relay.start();
    await fx.sql('INSERT INTO items VALUES (3)');
    const events = await fx.events(fx.topic('items'), 2);
    assert.deepEqual(
      events.map((e) => e.columns!.id),
      [1, 3],
      'streaming resumed from a new slot; row 2, written while there was no slot, is the accepted gap',
    );
  });

  test('a missing publication with create_publication = false', async () => {
    const fx = await cdcFixture('nopub');
    await fx.sql('CREATE TABLE items (id int PRIMARY KEY)');
    const relay = await relayFor(fx, 'create_publication = false');
    await relay.start({ waitRunning: false });
    const status = await failedWith(relay, 'PGRELAY_PG_PUBLICATION_MISSING');
    assert.match(
      status.sources.db!.last_error!.message,
      /publication "pgrelay_db" does not exist and create_publication = false/,
    );
  });

  test('a user without the REPLICATION attribute', async () => {
    const fx = await cdcFixture('noperm');
    const role = `norep_${fx.database}`;
    await fx.sql(`CREATE TABLE items (id int PRIMARY KEY); CREATE PUBLICATION pgrelay_db FOR TABLE items;
      CREATE ROLE ${role} LOGIN; GRANT SELECT ON items TO ${role};`);
    await fx.sql(`SELECT pg_create_logical_replication_slot('pgrelay_db_${fx.database}', 'pgoutput')`);
    const relay = await relayFor(
      fx,
      'create_publication = false\ncreate_slot = false',
      fx.pg.urlFor(fx.database, role),
    );
    await relay.start({ waitRunning: false });
    const status = await failedWith(relay, 'PGRELAY_PG_PERMISSION');
    assert.match(status.sources.db!.last_error!.message, /REPLICATION/);
  });

  test('a slot that must exist (create_slot = false) and does not', async () => {
    const fx = await cdcFixture('noslot');
    await fx.sql('CREATE TABLE items (id int PRIMARY KEY)');
    const relay = await relayFor(fx, 'create_slot = false');
    await relay.start({ waitRunning: false });
    const status = await failedWith(relay, 'PGRELAY_PG_SLOT_NOT_FOUND');
    assert.match(status.sources.db!.last_error!.message, /pg_create_logical_replication_slot/);
  });
});
