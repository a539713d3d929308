import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type CdcFixture, cdcFixture, kafkaSink } from '../harness/cdc.js';
import { PgrelayProcess } from '../harness/pgrelay.js';
import { standbySlot, standbySource } from '../harness/standby.js';
import { caughtUp } from '../helpers/churn.js';

/**
 * The publication a standby source streams is recorded with its position in pgrelay.positions, as
 * the state file records it: an instance taking the slot over whose config does not name one
 * streams the publication the last holder streamed, not its own default (here the last holder's
 * config named it; a holder that resolved it from its state file, a legacy "pgrelay", is the case
 * that matters in practice).
 */
describe('PostgreSQL standby: the new holder streams the publication the last one recorded', () => {
  let fx: CdcFixture;
  let relays: [PgrelayProcess, PgrelayProcess];

  before(async () => {
    fx = await cdcFixture('standby_publication');
    await fx.sql('CREATE TABLE rows (id int PRIMARY KEY)');
    const sink = kafkaSink('out', fx, ['db'], `topic_fallback = "${fx.topic('rows')}"`);
    relays = [
      await PgrelayProcess.create(
        standbySource(fx, ['rows'], 'relay_0', { publication: 'first_choice' }) + sink,
      ),
      await PgrelayProcess.create(standbySource(fx, ['rows'], 'relay_1', { publication: null }) + sink),
    ];
  });

  after(async () => {
    await Promise.all(relays.map((relay) => relay.destroy()));
  });

  test('the position records it, and the instance taking over streams it', async () => {
    const [first, second] = relays;
    await first.start();
    await fx.sql('INSERT INTO rows SELECT generate_series(1, 10)');
    await caughtUp(first, (text) => fx.sql(text));
    await first.stop();
    const [row] = await fx.sql<{ publication: string }>(
      'SELECT publication FROM pgrelay.positions WHERE slot = $1',
      [standbySlot(fx)],
    );
    assert.equal(row?.publication, 'first_choice');

    await second.start();
    assert.equal((await second.status()).sources.db?.publication, 'first_choice');
    await fx.sql('INSERT INTO rows SELECT generate_series(11, 20)');
    await caughtUp(second, (text) => fx.sql(text));
    const events = await fx.events(fx.topic('rows'), 20);
    assert.deepEqual(
      events.map((e) => e.key?.id),
      Array.from({ length: 20 }, (_, i) => i + 1),
      'every row, through the one publication',
    );
    const created = await fx.sql(`SELECT pubname FROM pg_publication WHERE pubname = 'pgrelay_db'`);
    assert.deepEqual(created, [], 'its default publication was not created');
    const [after] = await fx.sql<{ publication: string }>(
      'SELECT publication FROM pgrelay.positions WHERE slot = $1',
      [standbySlot(fx)],
    );
    assert.equal(after?.publication, 'first_choice');
  });
});
