import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type CdcFixture, cdcFixture, kafkaSink, parseEvents, postgresSource } from '../harness/cdc.js';
import { readTopic } from '../harness/kcat.js';
import { PgrelayProcess, type StatusBody } from '../harness/pgrelay.js';
import { waitFor } from '../harness/processes.js';
import { pgrelay } from '../helpers/cli.js';

/**
 * A publication dropped under a running slot: the slot decodes each change with the catalog as of
 * that change, so the error stays after the publication is created again and pgrelay restarted. The
 * error is named and says what to do, and what it says works (PostgreSQL 15).
 */
describe('PostgreSQL source: publication dropped while streaming', () => {
  let fx: CdcFixture;
  let relay: PgrelayProcess;
  const slot = () => `pgrelay_db_${fx.database}`;

  before(async () => {
    fx = await cdcFixture('pubdrop');
    await fx.sql('CREATE TABLE items (id int PRIMARY KEY)');
    relay = await PgrelayProcess.create(
      postgresSource('db', fx, ['items']) +
        kafkaSink('out', fx, ['db'], `topic_fallback = "${fx.topic('items')}"`),
    );
  });

  after(async () => {
    await relay?.destroy();
  });

  async function failedNamed(): Promise<string> {
    const status = await waitFor(
      'the source to fail, named',
      async () => {
        const response = await relay.get('/status');
        const body = (await response.json()) as StatusBody;
        return response.status === 503 && body.sources.db!.state === 'failed' ? body : undefined;
      },
      30_000,
      relay.logFile,
    );
    const error = status.sources.db!.last_error!;
    assert.equal(error.code, 'PGRELAY_PG_PUBLICATION_DROPPED', error.message);
    assert.match(
      error.message,
      new RegExp(
        `^source db: replication slot "${slot()}" cannot decode the change at [0-9A-F]+/[0-9A-F]+: publication "pgrelay_db" did not exist when it was made`,
      ),
    );
    assert.ok(
      error.message.includes(`SELECT pg_replication_slot_advance('${slot()}', pg_current_wal_lsn())`),
      error.message,
    );
    assert.match(error.message, /pgrelay reset-position -c CONFIG --source db/);
    return error.message;
  }

  test('named with the way out, also after the publication is back and pgrelay restarted; the way out works', async () => {
    await relay.start();
    await fx.sql('INSERT INTO items VALUES (1)');
    await fx.events(fx.topic('items'), 1);

    await fx.sql('DROP PUBLICATION pgrelay_db');
    await fx.sql('INSERT INTO items VALUES (2)');
    await failedNamed();

    await fx.sql('CREATE PUBLICATION pgrelay_db FOR TABLE items');
    await fx.sql('INSERT INTO items VALUES (3)');
    await relay.stop();
    await relay.start({ waitRunning: false });
    await failedNamed();

    // What the error says: stop pgrelay, move the slot past the publication's creation, forget the
    // older position, start, and backfill what was skipped.
    await relay.stop();
    await fx.sql(`SELECT pg_replication_slot_advance($1, pg_current_wal_lsn())`, [slot()]);
    const reset = await pgrelay(['reset-position', '-c', relay.configFile, '--source', 'db']);
    assert.equal(reset.code, 0, reset.stderr);
    await relay.start();
    await fx.sql('INSERT INTO items VALUES (4)');
    const backfill = await pgrelay(
      ['backfill', '-c', relay.configFile, '--source', 'db', '--table', 'items', '--wait'],
      { timeoutMs: 120_000 },
    );
    assert.equal(backfill.code, 0, backfill.stderr);

    const events = await waitFor(
      'every row on the topic: 4 streamed, 2 and 3 backfilled',
      async () => {
        const all = parseEvents(await readTopic(fx.brokers, fx.topic('items')));
        const ids = new Set(all.map((e) => e.columns!.id));
        return [1, 2, 3, 4].every((id) => ids.has(id)) ? all : undefined;
      },
      60_000,
      relay.logFile,
    );
    const streamed = events.filter((e) => e.action === 'insert').map((e) => e.columns!.id);
    assert.deepEqual(streamed, [1, 4], 'streamed: before the drop, and after the slot moved on');
    const backfilled = events.filter((e) => e.action === 'snapshot').map((e) => e.columns!.id);
    assert.deepEqual(backfilled, [1, 2, 3, 4], 'the backfill sends the rows the gap skipped');
    assert.equal(await relay.stop(), 0);
  });
});
