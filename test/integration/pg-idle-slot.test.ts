import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { lsnToBigInt } from '../../src/core/lsn.js';
import { type CdcFixture, cdcFixture, kafkaSink, postgresSource } from '../harness/cdc.js';
import { readTopic } from '../harness/kcat.js';
import { PgrelayProcess } from '../harness/pgrelay.js';
import { waitFor } from '../harness/processes.js';

/** Quiet published tables on a busy database must not pin WAL; logical messages are relayed on request. */
describe('PostgreSQL source: idle slots, heartbeats and logical messages', () => {
  let fx: CdcFixture;
  let relay: PgrelayProcess;
  let quietRelay: PgrelayProcess;

  before(async () => {
    fx = await cdcFixture('idle');
    await fx.sql(
      'CREATE TABLE quiet (id int PRIMARY KEY); CREATE TABLE busy (id int PRIMARY KEY, payload text)',
    );
    relay = await PgrelayProcess.create(
      postgresSource('db', fx, ['quiet'], 'heartbeat = "300ms"\nmessages = true') +
        kafkaSink('out', fx, ['db'], `topic_fallback = "${fx.topic('out')}"`),
    );
    quietRelay = await PgrelayProcess.create(
      postgresSource('plain', fx, ['quiet']) +
        kafkaSink('out', fx, ['plain'], `topic_fallback = "${fx.topic('plain')}"`),
    );
    await Promise.all([relay.start(), quietRelay.start()]);
  });

  after(async () => {
    await relay?.destroy();
    await quietRelay?.destroy();
  });

  const confirmedFlush = async (source: string) => {
    const [row] = await fx.sql<{ lsn: string }>(
      `SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = 'pgrelay_${source}_${fx.database}'`,
    );
    return lsnToBigInt(row!.lsn);
  };
  const currentWal = async () =>
    lsnToBigInt((await fx.sql<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn'))[0]!.lsn);

  test('without a heartbeat, keepalives move the slot past WAL written only by unpublished tables', async () => {
    await fx.sql(`INSERT INTO busy SELECT g, repeat('x', 500) FROM generate_series(1, 5000) g`);
    const end = await currentWal();
    await waitFor(
      "confirmed_flush_lsn to pass the busy table's WAL",
      async () => ((await confirmedFlush('plain')) >= end ? true : undefined),
      30_000,
      quietRelay.logFile,
    );
  });

  test('a heartbeat writes WAL on an idle database and the slot follows it', async () => {
    const start = await currentWal();
    await waitFor(
      'heartbeats to write WAL',
      async () => ((await currentWal()) > start ? true : undefined),
      10_000,
    );
    const moved = await currentWal();
    await waitFor(
      'the slot to follow',
      async () => ((await confirmedFlush('db')) >= moved ? true : undefined),
      30_000,
      relay.logFile,
    );
  });

  test('logical messages become events; heartbeats are never relayed', async () => {
    await fx.sql(`SELECT pg_logical_emit_message(true, 'app.audit', 'in a transaction')`);
    await fx.sql(`SELECT pg_logical_emit_message(false, 'app.ping', 'outside')`);
    await fx.sql('INSERT INTO quiet VALUES (1)');
    const events = await fx.events(fx.topic('out'), 3);
    const messages = events.filter((e) => e.action === 'message');
    assert.deepEqual(
      messages.map((e) => e.columns),
      [
        { prefix: 'app.audit', content: 'in a transaction', transactional: true },
        { prefix: 'app.ping', content: 'outside', transactional: false },
      ],
    );
    assert.equal(messages[0]!.table, null);
    assert.equal(events.at(-1)!.action, 'insert');
    const all = await readTopic(fx.brokers, fx.topic('out'));
    assert.equal(all.filter((m) => m.value?.includes('pgrelay.heartbeat')).length, 0);
    assert.equal(all.length, 3);
  });
});
