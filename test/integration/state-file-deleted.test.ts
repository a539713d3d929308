import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { formatLsn, lsnToBigInt } from '../../src/core/lsn.js';
import { type CdcFixture, cdcFixture, kafkaSink, parseEvents, postgresSource } from '../harness/cdc.js';
import { readTopic } from '../harness/kcat.js';
import { PgrelayProcess, type StatusBody } from '../harness/pgrelay.js';
import { waitFor } from '../harness/processes.js';

/**
 * state.db deleted under a running pgrelay: noticed (the path's device and inode against the open
 * database's) even with nothing to write, named, and never written into; the slot keeps the WAL after
 * the last stored position, so a restart, on a new state file, resumes from the slot and loses nothing.
 */
describe('state file deleted while pgrelay runs', () => {
  let fx: CdcFixture;
  let relay: PgrelayProcess;

  before(async () => {
    fx = await cdcFixture('statedel');
    await fx.sql('CREATE TABLE items (id int PRIMARY KEY)');
    relay = await PgrelayProcess.create(
      postgresSource('db', fx, ['items']) +
        kafkaSink('out', fx, ['db'], `topic_fallback = "${fx.topic('items')}"`),
    );
  });

  after(async () => {
    await relay?.destroy();
  });

  async function slotConfirmed(): Promise<bigint> {
    const [row] = await fx.sql<{ lsn: string }>(
      'SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1',
      [`pgrelay_db_${fx.database}`],
    );
    return lsnToBigInt(row!.lsn);
  }

  test('the source stops, named; the shutdown says positions were not stored; a restart loses nothing', async () => {
    await relay.start();
    await fx.sql('INSERT INTO items VALUES (1)');
    await fx.events(fx.topic('items'), 1);

    fs.rmSync(relay.stateFile);
    const status = await waitFor(
      'GET /status to name the deleted state file',
      async () => {
        const response = await relay.get('/status');
        const body = (await response.json()) as StatusBody & {
          state_file: { ok: boolean; error: { code: string } | null };
        };
        return response.status === 503 && body.sources.db!.state === 'failed' ? body : undefined;
      },
      30_000,
      relay.logFile,
    );
    const error = status.sources.db!.last_error!;
    assert.equal(error.code, 'PGRELAY_STATE_FILE_GONE');
    assert.ok(
      error.message.startsWith(
        `state.path ${relay.stateFile} was deleted while pgrelay ran: positions can no longer be stored`,
      ),
      error.message,
    );
    assert.match(error.message, /restart pgrelay/);
    assert.deepEqual(
      [status.state_file.ok, status.state_file.error?.code],
      [false, 'PGRELAY_STATE_FILE_GONE'],
    );
    const held = await slotConfirmed();
    await fx.sql('INSERT INTO items VALUES (2)');

    assert.equal(await relay.stop(), 3, 'the source had failed (and positions could not be stored)');
    assert.match(relay.log(), /stopped; positions NOT stored/);
    assert.doesNotMatch(relay.log(), /stopped cleanly; positions stored/);
    assert.equal(fs.existsSync(relay.stateFile), false, 'not recreated behind the operator');
    const confirmed = await slotConfirmed();
    assert.equal(
      confirmed,
      held,
      `the slot did not move after the file was gone (${formatLsn(confirmed)}, ${formatLsn(held)})`,
    );

    // A new state file: the source resumes from its slot, so row 2 (and anything sent since the
    // last stored position) comes now.
    await relay.start();
    await fx.sql('INSERT INTO items VALUES (3)');
    const events = await waitFor(
      'rows 1 to 3 on the topic',
      async () => {
        const all = parseEvents(await readTopic(fx.brokers, fx.topic('items')));
        const ids = new Set(all.map((e) => e.columns!.id));
        return [1, 2, 3].every((id) => ids.has(id)) ? all : undefined;
      },
      60_000,
      relay.logFile,
    );
    assert.ok(events.length >= 3);
    assert.equal(await relay.stop(), 0);
  });
});
