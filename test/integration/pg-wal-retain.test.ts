import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { lsnToBigInt, formatLsn } from '../../src/core/lsn.js';
import { type CdcFixture, cdcFixture, kafkaSink, parseEvents, postgresSource } from '../harness/cdc.js';
import { readTopic } from '../harness/kcat.js';
import { PgrelayProcess } from '../harness/pgrelay.js';
import { pgrelay } from '../helpers/cli.js';
import { waitFor } from '../harness/processes.js';

const RETAIN = 256 * 1024;

/** wal_retain keeps WAL behind the delivered position; rewind replays from inside that window. */
describe('PostgreSQL source: wal_retain and rewind', () => {
  let fx: CdcFixture;
  let relay: PgrelayProcess;
  let slot: string;

  before(async () => {
    fx = await cdcFixture('retain');
    slot = `pgrelay_db_${fx.database}`;
    await fx.sql('CREATE TABLE big (id int PRIMARY KEY, payload text)');
    relay = await PgrelayProcess.create(
      postgresSource('db', fx, ['big'], 'wal_retain = "256KB"') +
        kafkaSink('out', fx, ['db'], `topic_fallback = "${fx.topic('big')}"`),
    );
    await relay.start();
  });

  after(async () => {
    await relay?.destroy();
  });

  const confirmedFlush = async () =>
    lsnToBigInt(
      (
        await fx.sql<{ lsn: string }>(
          `SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = '${slot}'`,
        )
      )[0]!.lsn,
    );
  const stored = async () => {
    const { stdout } = await pgrelay(['positions', '-c', relay.configFile, '--json']);
    return lsnToBigInt((JSON.parse(stdout.trim()) as { position: string }).position);
  };

  test('confirmed_flush_lsn trails the stored position by wal_retain and never passes it', async () => {
    for (let batch = 0; batch < 20; batch++) {
      await fx.sql(
        `INSERT INTO big SELECT g, repeat(md5(g::text), 30) FROM generate_series(${batch * 100 + 1}, ${batch * 100 + 100}) g`,
      );
      const confirmed = await confirmedFlush();
      const position = await stored().catch(() => undefined);
      if (position !== undefined)
        assert.ok(
          confirmed <= position,
          `confirmed ${formatLsn(confirmed)} <= stored ${formatLsn(position)}`,
        );
    }
    await waitFor(
      'all rows delivered',
      async () => ((await readTopic(fx.brokers, fx.topic('big'))).length >= 2000 ? true : undefined),
      60_000,
    );
    assert.equal(await relay.stop(), 0);
    const position = await stored();
    const confirmed = await confirmedFlush();
    assert.equal(
      position - confirmed,
      BigInt(RETAIN),
      `stored ${formatLsn(position)}, confirmed ${formatLsn(confirmed)}`,
    );
  });

  test('rewind replays transactions committed after the new position, with their original ids', async () => {
    const before = parseEvents(await readTopic(fx.brokers, fx.topic('big')));
    const confirmed = await confirmedFlush();
    const position = await stored();

    const rewind = (lsn: bigint) =>
      pgrelay(['rewind', '-c', relay.configFile, '--source', 'db', '--lsn', formatLsn(lsn)]);
    const tooOld = await rewind(confirmed - 1n);
    assert.equal(tooOld.code, 2);
    assert.match(tooOld.stderr, /older than slot .* confirmed_flush_lsn/);
    const forward = await rewind(position + 8n);
    assert.equal(forward.code, 2);
    assert.match(forward.stderr, /rewind only moves back/);

    const { code, stdout } = await rewind(confirmed);
    assert.equal(code, 0);
    assert.match(stdout, new RegExp(`db: ${formatLsn(position)} -> ${formatLsn(confirmed)}`));

    const replayedLsns = new Set(before.filter((e) => lsnToBigInt(e.lsn) >= confirmed).map((e) => e.lsn));
    assert.ok(replayedLsns.size > 0, 'some transactions lie inside the retained window');
    const expected = before.filter((e) => replayedLsns.has(e.lsn)).length;
    await relay.start();
    const after = await waitFor(
      'the replayed transactions',
      async () => {
        const all = parseEvents(await readTopic(fx.brokers, fx.topic('big')));
        return all.length >= before.length + expected ? all : undefined;
      },
      60_000,
      relay.logFile,
    );
    const replayed = after.slice(before.length);
    assert.equal(replayed.length, expected);
    const earlierIds = new Set(before.map((e) => e.id));
    for (const event of replayed)
      assert.ok(earlierIds.has(event.id), `replayed ${event.id} carries its original id`);
  });
});
