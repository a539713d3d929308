import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type CdcFixture, cdcFixture, kafkaSink, parseEvents } from '../harness/cdc.js';
import { readTopic } from '../harness/kcat.js';
import { PgrelayProcess } from '../harness/pgrelay.js';
import { waitFor } from '../harness/processes.js';
import { sourceState, standbySource, streamingApp } from '../harness/standby.js';

const KILLS = 5;
const ROWS_PER_TRANSACTION = 50;
/** Rows the active instance delivers after taking over before it is killed: mid-stream, every time. */
const ROWS_BEFORE_KILL = 3000;

/**
 * Two pgrelay processes with one source (standby = true, the default standby_interval) while rows
 * keep coming: the active one is killed -9 five times, alternately; each time the standby takes
 * over from the position the killed one stored. Nothing is lost; duplicates and takeover times are
 * printed.
 */
describe('PostgreSQL standby: kill -9 of the active instance, five times', () => {
  let fx: CdcFixture;
  let relays: [PgrelayProcess, PgrelayProcess];
  let inserted = 0;
  let writing = true;
  let writer: Promise<void> | undefined;

  async function eventsOut(relay: PgrelayProcess): Promise<number> {
    const stats = await relay.stats();
    return stats.sinks.out!.events_out;
  }

  before(async () => {
    fx = await cdcFixture('standby_kill');
    await fx.sql('CREATE TABLE rows (id int PRIMARY KEY, payload text)');
    const sink = kafkaSink('out', fx, ['db'], `topic_fallback = "${fx.topic('rows')}"\nbatch_size = 500`);
    relays = [
      await PgrelayProcess.create(standbySource(fx, ['rows'], 'relay_0') + sink),
      await PgrelayProcess.create(standbySource(fx, ['rows'], 'relay_1') + sink),
    ];
    await relays[0].start();
    await relays[1].start();
    writer = (async () => {
      while (writing) {
        const from = inserted + 1;
        await fx.sql(
          `INSERT INTO rows SELECT g, repeat('x', 100) FROM generate_series(${from}, ${from + ROWS_PER_TRANSACTION - 1}) g`,
        );
        inserted += ROWS_PER_TRANSACTION;
      }
    })();
  });

  after(async () => {
    writing = false;
    await writer;
    await Promise.all(relays.map((relay) => relay.destroy()));
  });

  test('nothing is lost; duplicates and takeover times are printed', async () => {
    const takeovers: number[] = [];
    let active = 0;
    for (let kill = 1; kill <= KILLS; kill++) {
      const [killed, standby] = [relays[active]!, relays[1 - active]!];
      await waitFor(
        `relay_${active} to stream and relay_${1 - active} to stand by`,
        async () =>
          (await sourceState(killed)) === 'running' &&
          (await sourceState(standby)) === 'standby' &&
          (await streamingApp(fx)) === `relay_${active}`
            ? true
            : undefined,
        60_000,
        killed.logFile,
      );
      await waitFor(
        `relay_${active} to deliver ${ROWS_BEFORE_KILL} rows`,
        async () => ((await eventsOut(killed)) >= ROWS_BEFORE_KILL ? true : undefined),
        120_000,
        killed.logFile,
      );
      await killed.kill();
      const killedAt = Date.now();
      await waitFor(
        `relay_${1 - active} to take over after kill ${kill}`,
        async () => ((await sourceState(standby)) === 'running' ? true : undefined),
        60_000,
        standby.logFile,
      );
      takeovers.push(Date.now() - killedAt);
      // The killed one comes back as the standby.
      await killed.start();
      active = 1 - active;
    }
    writing = false;
    await writer;

    const events = await waitFor(
      'every row to arrive',
      async () => {
        const all = parseEvents(await readTopic(fx.brokers, fx.topic('rows')));
        return new Set(all.map((e) => e.columns!.id)).size >= inserted ? all : undefined;
      },
      180_000,
      relays[active]!.logFile,
    );
    const ids = new Set(events.map((e) => e.columns!.id as number));
    const lost = [];
    for (let id = 1; id <= inserted; id++) if (!ids.has(id)) lost.push(id);
    assert.deepEqual(lost, [], 'no row is lost');
    assert.equal(ids.size, inserted, 'no row that was not inserted');
    assert.equal(
      new Set(events.map((e) => e.id)).size,
      inserted,
      'a re-sent row carries the same event id, so consumers can drop it',
    );
    process.stdout.write(
      `# standby kill -9 x${KILLS}: ${inserted} rows, 0 lost, ${events.length - inserted} duplicates; ` +
        `takeover after the kill (until the standby reports running): ${takeovers.map((ms) => `${ms} ms`).join(', ')}\n`,
    );
  });
});
