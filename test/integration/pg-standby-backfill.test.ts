import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ChangeEvent } from '../../src/core/event.js';
import type { CdcFixture } from '../harness/cdc.js';
import type { PgrelayProcess } from '../harness/pgrelay.js';
import { waitFor } from '../harness/processes.js';
import { sourceState } from '../harness/standby.js';
import { ITEM_COLUMNS, caughtUp, churn, differences, lastPerKey } from '../helpers/churn.js';
import { assertFewResent, itemsProgress, standbyOnItems } from '../helpers/standby-items.js';

/** Rows written before pgrelay streams: only the backfill sends them. */
const ROWS = 40_000;
/** The backfill's condition: rows above it must never be backfilled, by either instance. */
const LIMIT = 36_000;
const CHUNK = 1000;
/**
 * What the killed holder can have had in flight: its sink's buffer (2 MB, about 5,000 of these rows)
 * and the chunk handed out (a backfill reads the next chunk once the last one is handed out).
 */
const IN_FLIGHT = 15_000;

type BackfillProgress = { state: string; rows_done: number; id?: string; where?: string };

/**
 * A backfill requested (HTTP API, with a condition) on the active instance of a standby source,
 * which is killed -9 half-way: the request and its progress are in the source database
 * (pgrelay.snapshot_progress), so the instance taking over continues it after the last stored chunk
 * and finishes it. Nothing is lost, the condition holds, and little is re-sent.
 */
describe('PostgreSQL standby: kill -9 of the active instance mid-backfill', () => {
  let fx: CdcFixture;
  let relays: [PgrelayProcess, PgrelayProcess];
  let load: ReturnType<typeof churn>;
  const progress = (relay: PgrelayProcess) => itemsProgress<BackfillProgress>(relay, 'backfill');

  before(async () => {
    ({ fx, relays } = await standbyOnItems('standby_backfill', ROWS, { extra: `snapshot_chunk = ${CHUNK}` }));
  });

  after(async () => {
    await load?.stop();
    await Promise.all(relays.map((relay) => relay.destroy()));
  });

  test('the standby finishes the backfill the killed instance began: nothing lost, its condition kept', async () => {
    const [active, standby] = relays;
    await active.start();
    await standby.start({ waitRunning: false });
    await waitFor(
      'relay_1 to stand by',
      async () => ((await sourceState(standby)) === 'standby' ? true : undefined),
      60_000,
      standby.logFile,
    );
    load = churn(fx.dsn, 'items', ROWS + 1);
    const response = await active.get('/sources/db/backfill', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ table: 'items', where: `id <= ${LIMIT}` }),
    });
    assert.equal(response.status, 202, await response.clone().text());
    const { id } = (await response.json()) as { id: string };
    const atKill = await waitFor(
      'relay_0 to be part-way through the backfill',
      async () => {
        const table = await progress(active).catch(() => undefined);
        return table !== undefined && table.rows_done >= LIMIT / 4 ? table : undefined;
      },
      180_000,
      active.logFile,
    );
    assert.notEqual(atKill.state, 'done', 'killed mid-backfill');
    await active.kill();

    const done = await waitFor(
      'relay_1 to take over and finish the backfill',
      async () => {
        const table = await progress(standby).catch(() => undefined);
        return table?.state === 'done' ? table : undefined;
      },
      300_000,
      standby.logFile,
    );
    assert.equal(done.id, id, 'the backfill relay_0 was asked for');
    assert.equal(done.where, `id <= ${LIMIT}`);
    // The log is JSON: the cursor's quotes are escaped there.
    assert.match(
      standby.log(),
      new RegExp(`backfill ${id} of public\\.items: continuing after \\[\\\\"\\d+\\\\"\\]`),
      'relay_1 continued after the chunks relay_0 stored',
    );
    await load.stop();
    await caughtUp(standby, (text) => fx.sql(text));

    const { events, last } = await lastPerKey(fx.brokers, fx.topic('items'));
    const backfilled = events.filter((e) => e.action === 'snapshot');
    assert.ok(
      backfilled.every((e) => e.id.startsWith(`backfill:${id}:public.items:`)),
      'one backfill, continued under its id',
    );
    const beyond = backfilled.filter((e) => (e.key as { id: number }).id > LIMIT).length;
    assert.equal(beyond, 0, 'no row the condition leaves out was backfilled');
    // Rows between the condition's limit and the first new id are sent only if the load changed them.
    const inScope = (id: number) => id <= LIMIT || id > ROWS;
    const scoped = new Map<string, ChangeEvent>(
      [...last].filter(([, event]) => inScope((event.key as { id: number }).id)),
    );
    const rows = await fx.sql(
      `SELECT ${ITEM_COLUMNS} FROM items WHERE id <= ${LIMIT} OR id > ${ROWS} ORDER BY id`,
    );
    assert.deepEqual(differences(scoped, rows), []);
    const resent = assertFewResent(backfilled, IN_FLIGHT, atKill.rows_done);
    process.stdout.write(
      `# standby, kill -9 mid-backfill: ${atKill.rows_done} of ~${LIMIT} rows acknowledged at the kill; ` +
        `${resent} rows re-sent; ${backfilled.length} backfilled rows in all\n`,
    );
  });
});
