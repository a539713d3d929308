import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type CdcFixture, cdcFixture, kafkaSink, parseEvents, postgresSource } from '../harness/cdc.js';
import { readTopic } from '../harness/kcat.js';
import { PgrelayProcess } from '../harness/pgrelay.js';
import { PostgresServer } from '../harness/postgres.js';
import { waitFor } from '../harness/processes.js';

/** PostgreSQL restarts under a running pgrelay: it reconnects with backoff and loses nothing. */
describe('PostgreSQL source: server restart', () => {
  let server: PostgresServer;
  let fx: CdcFixture;
  let relay: PgrelayProcess;

  before(async () => {
    server = await PostgresServer.start();
    const base = await cdcFixture('reconnect');
    const database = await server.createDatabase('reconnect');
    fx = {
      ...base,
      pg: server,
      database,
      dsn: server.urlFor(database),
      sql: (text, params) => server.query(text, params, database),
    };
    await fx.sql('CREATE TABLE items (id int PRIMARY KEY)');
    relay = await PgrelayProcess.create(
      postgresSource('db', fx, ['items']) +
        kafkaSink('out', fx, ['db'], `topic_fallback = "${fx.topic('items')}"`),
    );
    await relay.start();
  });

  after(async () => {
    await relay?.destroy();
    await server?.destroy();
  });

  test('retrying while the server is down, running again after, every row delivered once', async () => {
    await fx.sql('INSERT INTO items SELECT generate_series(1, 100)');
    await waitFor(
      'first rows',
      async () => ((await readTopic(fx.brokers, fx.topic('items'))).length >= 100 ? true : undefined),
      60_000,
    );

    await server.stop();
    const down = await waitFor(
      'the source to report retrying',
      async () => {
        const status = await relay.status();
        return status.sources.db!.state === 'retrying' ? status : undefined;
      },
      30_000,
      relay.logFile,
    );
    assert.ok(down.sources.db!.last_error, 'the connection error is reported');
    assert.equal((await relay.get('/status')).status, 503);

    await server.start();
    await relay.waitRunning();
    await fx.sql('INSERT INTO items SELECT generate_series(101, 200)');
    const events = await waitFor(
      'rows after the restart',
      async () => {
        const all = parseEvents(await readTopic(fx.brokers, fx.topic('items')));
        return all.length >= 200 ? all : undefined;
      },
      60_000,
      relay.logFile,
    );
    assert.deepEqual(
      events.map((e) => e.columns!.id),
      Array.from({ length: 200 }, (_, i) => i + 1),
      'every row once, in order: the reconnect resumed from the stored position',
    );
  });
});
