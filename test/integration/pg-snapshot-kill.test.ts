import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type CdcFixture, cdcFixture, kafkaSink, parseEvents, postgresSource } from '../harness/cdc.js';
import { readTopic } from '../harness/kcat.js';
import { PgrelayProcess } from '../harness/pgrelay.js';
import { waitFor } from '../harness/processes.js';
import {
  ITEM_COLUMNS,
  ITEMS_TABLE,
  caughtUp,
  churn,
  differences,
  itemRows,
  lastPerKey,
} from '../helpers/churn.js';

const ROWS = 200_000;

type TableProgress = { state: string; rows_done: number };

/** kill -9 in the middle of an initial snapshot, then restart: it continues, and the result is exact. */
describe('PostgreSQL → Kafka: kill -9 mid-snapshot', () => {
  let fx: CdcFixture;
  let relay: PgrelayProcess;
  let load: ReturnType<typeof churn>;
  const progress = async (): Promise<TableProgress | undefined> =>
    ((await relay.status()).sources.db?.snapshot as Record<string, TableProgress> | undefined)?.[
      'public.items'
    ];

  before(async () => {
    fx = await cdcFixture('snapkill');
    await fx.sql(`CREATE TABLE items ${ITEMS_TABLE}`);
    await fx.sql(itemRows('items', ROWS));
    relay = await PgrelayProcess.create(
      postgresSource('db', fx, ['items'], `snapshot = "initial"\nsnapshot_chunk = 2000`) +
        kafkaSink('out', fx, ['db'], `topic_fallback = "${fx.topic('items')}"`),
    );
  });

  after(async () => {
    await load?.stop();
    await relay?.destroy();
  });

  test('the restart continues after the last acknowledged chunk, and the stream makes it exact', async () => {
    load = churn(fx.dsn, 'items', ROWS + 1);
    await relay.start();
    const atKill = await waitFor(
      'a part of the snapshot to be acknowledged',
      async () => {
        const table = await progress();
        return table !== undefined && table.rows_done >= ROWS / 5 ? table : undefined;
      },
      120_000,
      relay.logFile,
    );
    await relay.kill();
    assert.equal(atKill.state, 'running');

    const beforeRestart = parseEvents(await readTopic(fx.brokers, fx.topic('items')));
    assert.ok(
      beforeRestart.length < ROWS,
      `killed mid-snapshot (${beforeRestart.length} of ${ROWS} rows sent)`,
    );
    const consistentPoint = beforeRestart[0]!.lsn;
    const [slot] = await fx.sql<{ confirmed: string }>(
      `SELECT confirmed_flush_lsn::text AS confirmed FROM pg_replication_slots WHERE slot_name = 'pgrelay_db_${fx.database}'`,
    );
    assert.equal(slot?.confirmed, consistentPoint, 'the slot holds the WAL since the consistent point');

    await relay.start();
    const resumed = await progress();
    assert.ok(
      resumed !== undefined && resumed.rows_done >= atKill.rows_done,
      `the restart continues from ${resumed?.rows_done} acknowledged rows, not from zero`,
    );
    await waitFor(
      'the snapshot to complete',
      async () => ((await progress())?.state === 'done' ? true : undefined),
      120_000,
      relay.logFile,
    );
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await load.stop();
    await caughtUp(relay, (text) => fx.sql(text));

    const { events, last } = await lastPerKey(fx.brokers, fx.topic('items'));
    const rows = await fx.sql(`SELECT ${ITEM_COLUMNS} FROM items ORDER BY id`);
    assert.deepEqual(differences(last, rows), []);

    const snapshot = events.filter((e) => e.action === 'snapshot');
    assert.deepEqual([...new Set(snapshot.map((e) => e.lsn))], [consistentPoint]);
    // Like its LSN, the rows read after the restart carry the snapshot's time: a row sent twice is stamped the same.
    const times = [...new Set(snapshot.map((e) => e.commit_time))];
    assert.equal(times.length, 1, `one snapshot time: ${times.join(', ')}`);
    assert.match(times[0] ?? 'null', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    const keys = new Set(snapshot.map((e) => e.id));
    const resent = snapshot.length - keys.size;
    const inFlight = beforeRestart.length - atKill.rows_done;
    // Rows sent again are at most those handed out but not acknowledged when pgrelay was killed.
    assert.ok(resent <= inFlight, `${resent} rows sent twice, ${inFlight} were in flight at the kill`);
    process.stdout.write(
      `# kill -9 mid-snapshot: ${beforeRestart.length} rows sent, ${atKill.rows_done} acknowledged before the kill; ${resent} sent again\n`,
    );
  });
});
