import assert from 'node:assert/strict';
import os from 'node:os';
import { after, before, describe, test } from 'node:test';
import { type CdcFixture, cdcFixture, kafkaSink } from '../harness/cdc.js';
import { PgrelayProcess } from '../harness/pgrelay.js';
import { waitFor } from '../harness/processes.js';
import { holderOf, sourceState, standbySource } from '../harness/standby.js';

interface Holder {
  instance: string | null;
  server_pid: number;
  since: string | null;
  this_instance: boolean;
}

/**
 * /status of every instance of a standby source names the instance holding the slot and since when:
 * the active one itself, the standing-by ones the active one; after a takeover, the new holder.
 */
describe('PostgreSQL standby: /status names the slot holder on every instance', () => {
  let fx: CdcFixture;
  let relays: [PgrelayProcess, PgrelayProcess];
  const holderIn = async (relay: PgrelayProcess): Promise<Holder | null | undefined> =>
    (await relay.status().catch(() => undefined))?.sources.db?.holder as Holder | null | undefined;
  /** Waits until `relay` shows `expected` (host:pid) as the holder. */
  const shows = (relay: PgrelayProcess, name: string, expected: string) =>
    waitFor(
      `${name} to show ${expected} as the slot's holder`,
      async () => {
        const holder = await holderIn(relay);
        return holder?.instance === expected ? holder : undefined;
      },
      60_000,
      relay.logFile,
    );

  before(async () => {
    fx = await cdcFixture('standby_holder');
    await fx.sql('CREATE TABLE rows (id int PRIMARY KEY)');
    const sink = kafkaSink('out', fx, ['db'], `topic_fallback = "${fx.topic('rows')}"`);
    const options = { interval: '300ms' };
    relays = [
      await PgrelayProcess.create(standbySource(fx, ['rows'], 'relay_0', options) + sink),
      await PgrelayProcess.create(standbySource(fx, ['rows'], 'relay_1', options) + sink),
    ];
  });

  after(async () => {
    await Promise.all(relays.map((relay) => relay.destroy()));
  });

  test('the active instance names itself, the standby names it; after a takeover both name the new one', async () => {
    const [first, second] = relays;
    await first.start();
    await second.start({ waitRunning: false });
    const firstName = holderOf(first, os.hostname());
    const own = await shows(first, 'relay_0', firstName);
    assert.equal(own.this_instance, true);
    assert.ok(own.since !== null && Date.parse(own.since) <= Date.now(), `since ${own.since}`);
    const seen = await shows(second, 'relay_1 (standing by)', firstName);
    assert.equal(await sourceState(second), 'standby');
    assert.deepEqual(seen, { ...own, this_instance: false }, 'the same holder, server process and time');

    await first.stop();
    const secondName = holderOf(second, os.hostname());
    const taken = await shows(second, 'relay_1', secondName);
    assert.equal(taken.this_instance, true);
    assert.ok(Date.parse(taken.since!) >= Date.parse(own.since), 'held since the takeover');
    await first.start({ waitRunning: false });
    const seenAgain = await shows(first, 'relay_0 (standing by now)', secondName);
    assert.deepEqual(seenAgain, { ...taken, this_instance: false });
  });
});
