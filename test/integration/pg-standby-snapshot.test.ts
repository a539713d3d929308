import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { CdcFixture } from '../harness/cdc.js';
import type { PgrelayProcess } from '../harness/pgrelay.js';
import { waitFor } from '../harness/processes.js';
import { sourceState } from '../harness/standby.js';
import { ITEM_COLUMNS, caughtUp, churn, differences, lastPerKey } from '../helpers/churn.js';
import { assertFewResent, itemsProgress, standbyOnItems } from '../helpers/standby-items.js';

const ROWS = 200_000;
const CHUNK = 2000;
/**
 * What the old holder can have sent beyond the cursor it stored: its sink's buffer (2 MB, about
 * 5,000 of these rows) and the chunk accepted beyond it, and the chunks acknowledged while its last
 * cursor was being written (the position session cut, it lives on and delivers all of that; up to
 * about 16,000 rows measured on 2 loaded cores). Taking the snapshot again from the start would
 * re-send every row acknowledged at the kill (40,000 and more).
 */
const IN_FLIGHT = 30_000;

type TableProgress = { state: string; rows_done: number };

/**
 * The active instance is lost in the middle of the initial snapshot, killed -9 or its position
 * session cut (it lives on, and must stand by, not fail): its progress is in the source database
 * (pgrelay.snapshot_progress), so the standby continues the snapshot after the last chunk stored
 * there, re-sending only what was in flight; the stream from the slot makes the result exact.
 */
const FAULTS = {
  'kill -9 of': {},
  // The cut instance tries again after 3 s; the standby checks every 300 ms: the standby takes over.
  'the position session cut of': { interval: '300ms', retryInitial: '3s' },
};

for (const [fault, options] of Object.entries(FAULTS)) {
  describe(`PostgreSQL standby: ${fault} the active instance mid-snapshot`, () => {
    let fx: CdcFixture;
    let relays: [PgrelayProcess, PgrelayProcess];
    let load: ReturnType<typeof churn>;
    const progress = (relay: PgrelayProcess) => itemsProgress<TableProgress>(relay, 'snapshot');

    before(async () => {
      const extra = `snapshot = "initial"\nsnapshot_chunk = ${CHUNK}`;
      ({ fx, relays } = await standbyOnItems('standby_snap', ROWS, { extra, ...options }));
    });

    after(async () => {
      await load?.stop();
      await Promise.all(relays.map((relay) => relay.destroy()));
    });

    test('the standby continues the snapshot where the stored chunks end: every row ends as the table has it', async () => {
      const [active, standby] = relays;
      load = churn(fx.dsn, 'items', ROWS + 1);
      await active.start({ waitRunning: false });
      await waitFor(
        'relay_0 to begin the snapshot (it holds the lease)',
        async () => ((await progress(active).catch(() => undefined)) !== undefined ? true : undefined),
        120_000,
        active.logFile,
      );
      await standby.start();
      assert.equal(await sourceState(standby), 'standby');
      await waitFor(
        'relay_0 to be part-way through the snapshot',
        async () => {
          const table = await progress(active).catch(() => undefined);
          return table !== undefined && table.rows_done >= ROWS / 5 ? table : undefined;
        },
        120_000,
        active.logFile,
      );
      const atKill = (await progress(active))!;
      assert.notEqual(atKill.state, 'done', 'killed mid-snapshot');
      if (fault === 'kill -9 of') await active.kill();
      else
        await fx.sql(
          `SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
          WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = 'relay_0'`,
        );

      await waitFor(
        'relay_1 to take over and complete the snapshot',
        async () => ((await progress(standby))?.state === 'done' ? true : undefined),
        180_000,
        standby.logFile,
      );
      await load.stop();
      await caughtUp(standby, (text) => fx.sql(text));

      const { events, last } = await lastPerKey(fx.brokers, fx.topic('items'));
      const rows = await fx.sql(`SELECT ${ITEM_COLUMNS} FROM items ORDER BY id`);
      assert.deepEqual(differences(last, rows), []);
      if (fault !== 'kill -9 of')
        assert.equal(await sourceState(active), 'standby', 'the cut instance stands by, it did not fail');
      // The new holder said where it continued: after the rows the old one stored.
      const continued = /snapshot of public\.items at \S+: continuing after .* \((\d+) rows done\)/.exec(
        fs.readFileSync(standby.logFile, 'utf8'),
      );
      assert.ok(continued, 'relay_1 continued the snapshot rather than starting it again');
      const stored = Number(continued[1]);
      assert.ok(stored > 0 && stored % CHUNK === 0, `continued after ${stored} rows: whole chunks`);
      // A row sent twice carries the same event id (snapshot LSN, table, key).
      const snapshot = events.filter((e) => e.action === 'snapshot');
      const resent = assertFewResent(snapshot, IN_FLIGHT, atKill.rows_done);
      process.stdout.write(
        `# standby, ${fault} the active instance mid-snapshot: ${atKill.rows_done} of ${ROWS} rows acknowledged at the kill; ` +
          `the new holder continued after ${stored}; ${resent} rows re-sent, ${snapshot.length} snapshot rows sent in all\n`,
      );
    });
  });
}
