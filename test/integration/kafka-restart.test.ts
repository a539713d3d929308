import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { ChangeEvent } from '../../src/core/event.js';
import { halfwayRelay } from '../fixtures/configs.js';
import { partitionedMessages, runsPerRow } from '../fixtures/events.js';
import { readTopic } from '../harness/kcat.js';
import { PgrelayProcess } from '../harness/pgrelay.js';
import { waitFor } from '../harness/processes.js';
import { committedOffsets, endOffsets, produce, waitForSize } from '../harness/topics.js';

const PARTITIONS = 3;
const ROWS = 300; // a multiple of PARTITIONS: each row stays on partition seq % PARTITIONS
const TOTAL = 40_000;
/** Output sizes at which the running relay is killed. */
const KILLS = [6_000, 16_000, 26_000];

function seqOf(value: string | null): number {
  return (JSON.parse(value!) as ChangeEvent).columns!.seq as number;
}

/** Waits until nothing more lands in `topic` (a produce request sent before a kill may still be written). */
async function settled(brokers: string[], topic: string): Promise<void> {
  let last = '';
  await waitFor(
    `${topic} to stop growing`,
    async () => {
      const ends = JSON.stringify([...(await endOffsets(brokers, topic))]);
      const same = ends === last;
      last = ends;
      return same ? true : undefined;
    },
    30_000,
  );
}

describe('kill -9 of a Kafka relay', () => {
  const processes: PgrelayProcess[] = [];
  after(async () => {
    for (const p of processes) await p.destroy();
  });

  it('loses nothing, and resends exactly what was delivered after the last commit', async (t) => {
    const { brokers, input, out, group, config } = await halfwayRelay('restart', PARTITIONS, ROWS, TOTAL);
    // Messages keep arriving while the relay is killed and restarted.
    const producing = (async () => {
      for (let seq = TOTAL / 2; seq < TOTAL; seq += 250) {
        await produce(brokers, input, partitionedMessages(seq, 250, ROWS, PARTITIONS));
      }
    })();

    let resent = 0;
    for (const [kill, size] of KILLS.entries()) {
      const relay = await PgrelayProcess.create(config);
      processes.push(relay);
      await relay.start();
      await waitForSize(brokers, out, size);
      await relay.kill();
      await settled(brokers, out);

      const delivered = new Set((await readTopic(brokers, out)).map((m) => seqOf(m.value)));
      const committed = await committedOffsets(brokers, group, input);
      let committedTotal = 0;
      for (let p = 0; p < PARTITIONS; p++) {
        const offset = Math.max(0, committed.get(p) ?? 0);
        committedTotal += offset;
        // Committed means delivered: every message before the committed offset is in the output.
        for (let o = 0; o < offset; o++)
          assert.ok(delivered.has(o * PARTITIONS + p), `partition ${p} offset ${o} committed, not delivered`);
      }
      assert.ok(committedTotal > 0, 'offsets were committed while the relay ran');
      // Per partition the output holds a prefix of the input: what lies past the commit is resent.
      const inFlight = delivered.size - committedTotal;
      t.diagnostic(
        `kill ${kill + 1}: ${delivered.size} delivered, ${committedTotal} committed: ${inFlight} to be resent`,
      );
      resent += inFlight;
    }

    const last = await PgrelayProcess.create(config);
    processes.push(last);
    await last.start();
    await producing;
    await waitFor(
      'every offset to be committed',
      async () => {
        const offsets = await committedOffsets(brokers, group, input);
        return [...offsets.values()].reduce((a, b) => a + b, 0) === TOTAL ? true : undefined;
      },
      60_000,
    );

    const events = (await readTopic(brokers, out)).map((m) => JSON.parse(m.value!) as ChangeEvent);
    const seqs = new Set(events.map((e) => e.columns!.seq as number));
    assert.equal(seqs.size, TOTAL, 'nothing missing');
    t.diagnostic(`${events.length - TOTAL} duplicates of ${TOTAL} messages after ${KILLS.length} kills`);
    assert.equal(
      events.length - TOTAL,
      resent,
      'duplicates are exactly what was delivered but not yet committed at each kill',
    );
    for (const [row, runs] of runsPerRow(events)) {
      assert.ok(
        runs.length <= KILLS.length + 1,
        `${row}: in order apart from one replay per kill: ${JSON.stringify(runs)}`,
      );
    }
    assert.equal(await last.stop(), 0);
  });
});
