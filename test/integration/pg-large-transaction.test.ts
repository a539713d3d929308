import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import pg from 'pg';
import { lsnToBigInt } from '../../src/core/lsn.js';
import { type CdcFixture, cdcFixture, kafkaSink, parseEvents, postgresSource } from '../harness/cdc.js';
import { readTopic } from '../harness/kcat.js';
import { PgrelayProcess } from '../harness/pgrelay.js';
import { STATEMENT_MS } from '../harness/postgres.js';
import { waitFor } from '../harness/processes.js';
import { pgrelay } from '../helpers/cli.js';

const ROWS = 50_000;

/**
 * A restart in the middle of a large transaction re-sends at most what was in flight: the stored
 * position counts the transaction's events every sink holds, and the restart skips them.
 */
describe('PostgreSQL → Kafka: a restart inside a large transaction', () => {
  let fx: CdcFixture;

  before(async () => {
    fx = await cdcFixture('bigtx');
  });

  /** A relay (not started) on a table and topic of its own. */
  async function relayOn(name: string): Promise<{ relay: PgrelayProcess; table: string; topic: string }> {
    const table = `rows_${name}`;
    const topic = fx.topic(name);
    await fx.sql(`CREATE TABLE ${table} (id int PRIMARY KEY, payload text)`);
    const relay = await PgrelayProcess.create(
      postgresSource(name, fx, [table]) +
        kafkaSink('out', fx, [name], `topic_fallback = "${topic}"\nbatch_size = 500`),
    );
    return { relay, table, topic };
  }

  /** Waits until a fifth of the transaction, and not all of it, is delivered. */
  async function midway(relay: PgrelayProcess): Promise<void> {
    const partly = await waitFor(
      'a fifth of the transaction to be delivered',
      async () => {
        const stats = await relay.stats();
        const out = stats.sinks.out!.events_out;
        return out >= ROWS / 5 && out < ROWS ? true : out >= ROWS ? false : undefined;
      },
      120_000,
      relay.logFile,
    );
    assert.ok(partly, 'the stop came before the transaction was delivered');
  }

  /** A relay on its own table and topic, with the transaction written while it is down. */
  async function relayWithBacklog(name: string): Promise<{ relay: PgrelayProcess; topic: string }> {
    const { relay, table, topic } = await relayOn(name);
    await relay.start();
    assert.equal(await relay.stop(), 0);
    await fx.sql(`INSERT INTO ${table} SELECT g, repeat('x', 200) FROM generate_series(1, ${ROWS}) g`);
    await relay.start();
    await midway(relay);
    return { relay, topic };
  }

  /** The stored position's count of the open transaction's delivered events. */
  async function storedEvents(relay: PgrelayProcess, source: string): Promise<number> {
    const { stdout, code } = await pgrelay(['positions', '-c', relay.configFile, '--json']);
    assert.equal(code, 0);
    const row = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { source: string; meta: { delivered_events?: number } })
      .find((r) => r.source === source);
    return row?.meta.delivered_events ?? 0;
  }

  async function everyRow(relay: PgrelayProcess, topic: string) {
    const events = await waitFor(
      'every row of the transaction',
      async () => {
        const all = parseEvents(await readTopic(fx.brokers, topic));
        return new Set(all.map((e) => e.id)).size >= ROWS ? all : undefined;
      },
      180_000,
      relay.logFile,
    );
    assert.equal(new Set(events.map((e) => e.columns!.id)).size, ROWS, 'every row arrived');
    return events;
  }

  test('after SIGTERM nothing is sent twice', async () => {
    const { relay, topic } = await relayWithBacklog('term');
    try {
      assert.equal(await relay.stop(), 0);
      const stored = await storedEvents(relay, 'term');
      const before = (await readTopic(fx.brokers, topic)).length;
      assert.equal(stored, before, 'the stored position counts every event delivered before the stop');
      assert.ok(stored > 0 && stored < ROWS, `the position sits inside the transaction (${stored} events)`);
      await relay.start();
      const events = await everyRow(relay, topic);
      assert.equal(events.length, ROWS, `no duplicates (${events.length - ROWS} found)`);
      process.stdout.write(
        `# SIGTERM inside a ${ROWS}-row transaction: ${before} delivered before, 0 sent twice\n`,
      );
    } finally {
      await relay.destroy();
    }
  });

  test('after SIGTERM nothing is sent twice, also for a transaction left open while the slot moved on', async () => {
    const { relay, table, topic } = await relayOn('open');
    const writer = new pg.Client({ connectionString: fx.dsn, query_timeout: STATEMENT_MS });
    try {
      await relay.start();
      await writer.connect();
      await writer.query('BEGIN');
      await writer.query(
        `INSERT INTO ${table} SELECT g, repeat('x', 200) FROM generate_series(1, ${ROWS}) g`,
      );
      const written = (
        (await writer.query('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0] as { lsn: string }
      ).lsn;
      // While the transaction is open the server's keepalives carry the slot past its changes.
      await waitFor(
        'keepalives to move the position past the open transaction',
        async () => {
          const position = (await relay.status()).sources.open!.position;
          return position !== null && lsnToBigInt(position) >= lsnToBigInt(written) ? true : undefined;
        },
        60_000,
        relay.logFile,
      );
      await writer.query('COMMIT');
      await midway(relay);
      assert.equal(await relay.stop(), 0);
      const stored = await storedEvents(relay, 'open');
      assert.equal(
        stored,
        (await readTopic(fx.brokers, topic)).length,
        'the stored position counts what was delivered',
      );
      await relay.start();
      const events = await everyRow(relay, topic);
      assert.equal(events.length, ROWS, `no duplicates (${events.length - ROWS} found)`);
    } finally {
      await writer.end().catch(() => undefined);
      await relay.destroy();
    }
  });

  test('after kill -9 only what was in flight is sent twice', async () => {
    const { relay, topic } = await relayWithBacklog('kill');
    try {
      await relay.kill();
      const stored = await storedEvents(relay, 'kill');
      const before = (await readTopic(fx.brokers, topic)).length;
      assert.ok(stored > 0, `the position sits inside the transaction (${stored} events)`);
      await relay.start();
      const events = await everyRow(relay, topic);
      const duplicates = events.length - ROWS;
      assert.ok(
        duplicates <= before - stored,
        `duplicates (${duplicates}) at most the ${before - stored} delivered but not yet stored at the kill`,
      );
      assert.equal(new Set(events.map((e) => e.id)).size, ROWS, 'a re-sent row keeps its event id');
      process.stdout.write(
        `# kill -9 inside a ${ROWS}-row transaction: ${before} delivered, ${stored} stored, ${duplicates} sent twice\n`,
      );
    } finally {
      await relay.destroy();
    }
  });
});
