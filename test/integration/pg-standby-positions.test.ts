import assert from 'node:assert/strict';
import os from 'node:os';
import { after, before, describe, test } from 'node:test';
import { type CdcFixture, cdcFixture, kafkaSink } from '../harness/cdc.js';
import { PgrelayProcess } from '../harness/pgrelay.js';
import { waitFor } from '../harness/processes.js';
import { holderOf, standbySlot, standbySource } from '../harness/standby.js';
import { pgrelay } from '../helpers/cli.js';
import { caughtUp } from '../helpers/churn.js';

/**
 * `pgrelay positions` shows a standby source's position from pgrelay.positions of its database
 * (its instances' state files do not have it), in the state file's format, and names the holder.
 */
describe('pgrelay positions: a standby source', () => {
  let fx: CdcFixture;
  let relay: PgrelayProcess;

  const stored = async () =>
    (
      await fx.sql<{ lsn: string; holder: string }>(
        `SELECT lsn::text AS lsn, holder FROM pgrelay.positions WHERE slot = $1`,
        [standbySlot(fx)],
      )
    )[0];

  before(async () => {
    fx = await cdcFixture('standby_positions');
    await fx.sql('CREATE TABLE rows (id int PRIMARY KEY)');
    relay = await PgrelayProcess.create(
      standbySource(fx, ['rows'], 'relay_0') +
        kafkaSink('out', fx, ['db'], `topic_fallback = "${fx.topic('rows')}"`),
    );
    await relay.start();
    await fx.sql('INSERT INTO rows SELECT generate_series(1, 100)');
    await caughtUp(relay, (text) => fx.sql(text));
    // Delivered is stored within 100 ms.
    await waitFor(
      'the position to be stored in pgrelay.positions',
      async () => (await stored()) ?? undefined,
      30_000,
    );
  });

  after(async () => {
    await relay?.destroy();
  });

  /** Whether `lsn` is between two stored positions (idle keepalives move it on meanwhile). */
  const between = async (lsn: string, from: string, to: string) =>
    (
      await fx.sql<{ ok: boolean }>('SELECT $1::pg_lsn BETWEEN $2::pg_lsn AND $3::pg_lsn AS ok', [
        lsn,
        from,
        to,
      ])
    )[0]!.ok;

  test('prints the stored position and the instance holding the slot', async () => {
    const name = holderOf(relay, os.hostname());
    const before = (await stored())!;
    const text = await pgrelay(['positions', '-c', relay.configFile]);
    const json = await pgrelay(['positions', '-c', relay.configFile, '--json']);
    const after = (await stored())!;
    assert.equal(text.code, 0, text.stderr);
    const line = new RegExp(
      `^db\\t(\\S+)\\t\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z\\theld by pgrelay ${name}, server process \\d+, since \\S+\\n$`,
    ).exec(text.stdout);
    assert.ok(line, `one line for db, naming the holder: ${text.stdout}`);
    assert.ok(await between(line[1]!, before.lsn, after.lsn), `${line[1]} is what pgrelay.positions held`);
    assert.equal(json.code, 0, json.stderr);
    const row = JSON.parse(json.stdout) as {
      source: string;
      position: string;
      meta: { slot: string; publication: string; stored_by: string };
      holder: { instance: string; this_instance: boolean };
    };
    assert.equal(row.source, 'db');
    assert.ok(
      await between(row.position, before.lsn, after.lsn),
      `${row.position} is what pgrelay.positions held`,
    );
    assert.deepEqual(row.meta, { slot: standbySlot(fx), publication: 'pgrelay_db', stored_by: name });
    assert.equal(row.holder.instance, name);
    assert.equal(row.holder.this_instance, false, 'the command is not the holder');
  });

  test('after a stop: the final position, held by nobody', async () => {
    await relay.stop();
    const text = await pgrelay(['positions', '-c', relay.configFile]);
    assert.equal(text.code, 0, text.stderr);
    const { lsn } = (await stored())!;
    assert.match(text.stdout, new RegExp(`^db\\t${lsn.replace('/', '\\/')}\\t\\S+\\theld by nobody\\n$`));
  });
});
