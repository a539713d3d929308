import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { ChangeEvent } from '../../src/core/event.js';
import { halfwayRelay } from '../fixtures/configs.js';
import { partitionedMessages, runsPerRow } from '../fixtures/events.js';
import { readTopic } from '../harness/kcat.js';
import { PgrelayProcess } from '../harness/pgrelay.js';
import { waitFor } from '../harness/processes.js';
import { committedOffsets, endOffsets, produce, topicSize } from '../harness/topics.js';

const PARTITIONS = 3;
const ROWS = 300; // a multiple of PARTITIONS: each row stays on partition seq % PARTITIONS
const TOTAL = 40_000;
const KILLS = 3;
/** Messages per request of the input stream. */
const CHUNK = 300;
/** New messages a relay delivers before it is killed: it is killed mid-stream, never idle. */
const BETWEEN_KILLS = 3_000;

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

/** Keeps input arriving up to TOTAL: a chunk whenever the output has caught up with all but one. */
function stream(brokers: string[], input: string, out: string) {
  const done = (async () => {
    for (let next = TOTAL / 2; next < TOTAL; next += CHUNK) {
      await waitFor(
        `${out} to catch up with ${next - CHUNK} messages`,
        async () => ((await topicSize(brokers, out)) >= next - CHUNK ? true : undefined),
        120_000,
      );
      await produce(
        brokers,
        input,
        partitionedMessages(next, Math.min(CHUNK, TOTAL - next), ROWS, PARTITIONS),
      );
    }
  })();
  done.catch(() => undefined); // surfaces where it is awaited
  return done;
}

describe('kill -9 of a Kafka relay', () => {
  const processes: PgrelayProcess[] = [];
  after(async () => {
    for (const p of processes) await p.destroy();
  });

  it('loses nothing, and resends exactly what was delivered after the last commit', async (t) => {
    const { brokers, input, out, group, config } = await halfwayRelay('restart', PARTITIONS, ROWS, TOTAL);
    const producing = stream(brokers, input, out);

    let resent = 0;
    /** Per partition, the offset after the last message delivered before the previous kill. */
    let deliveredBefore = new Map<number, number>();
    let outputBefore = 0;
    for (let kill = 1; kill <= KILLS; kill++) {
      const relay = await PgrelayProcess.create(config);
      processes.push(relay);
      await relay.start();
      // Killed only once it has resent what the previous kill left uncommitted (so each kill's
      // resends are counted once) and delivered more, while messages keep coming.
      await waitFor(
        `relay ${kill} to commit past the previous kill and deliver ${BETWEEN_KILLS} more`,
        async () => {
          const committed = await committedOffsets(brokers, group, input);
          const caughtUp = [...deliveredBefore].every(([p, end]) => (committed.get(p) ?? 0) >= end);
          const size = await topicSize(brokers, out);
          return caughtUp && size >= outputBefore + BETWEEN_KILLS ? true : undefined;
        },
        120_000,
        relay.logFile,
      );
      await relay.kill();
      await settled(brokers, out);

      const output = (await readTopic(brokers, out)).map((m) => seqOf(m.value));
      const delivered = new Set(output);
      const committed = await committedOffsets(brokers, group, input);
      let committedTotal = 0;
      deliveredBefore = new Map();
      for (const seq of delivered) {
        const [p, offset] = [seq % PARTITIONS, Math.floor(seq / PARTITIONS)];
        deliveredBefore.set(p, Math.max(deliveredBefore.get(p) ?? 0, offset + 1));
      }
      for (let p = 0; p < PARTITIONS; p++) {
        const offset = Math.max(0, committed.get(p) ?? 0);
        committedTotal += offset;
        // Committed means delivered: every message before the committed offset is in the output.
        for (let o = 0; o < offset; o++)
          assert.ok(delivered.has(o * PARTITIONS + p), `partition ${p} offset ${o} committed, not delivered`);
      }
      assert.ok(committedTotal > 0, 'offsets were committed while the relay ran');
      // What was delivered past the commit is what the next relay sends again.
      const inFlight = delivered.size - committedTotal;
      t.diagnostic(
        `kill ${kill}: ${delivered.size} delivered, ${committedTotal} committed: ${inFlight} to be resent`,
      );
      resent += inFlight;
      outputBefore = output.length;
    }

    const last = await PgrelayProcess.create(config);
    processes.push(last);
    await last.start();
    await producing;
    let committed = new Map<number, number>();
    await waitFor(
      () => `every offset to be committed (committed per partition: ${JSON.stringify([...committed])})`,
      async () => {
        committed = await committedOffsets(brokers, group, input);
        return [...committed.values()].reduce((a, b) => a + b, 0) === TOTAL ? true : undefined;
      },
      60_000,
      last.logFile,
    );

    const events = (await readTopic(brokers, out)).map((m) => JSON.parse(m.value!) as ChangeEvent);
    const seqs = new Set(events.map((e) => e.columns!.seq as number));
    assert.equal(seqs.size, TOTAL, 'nothing missing');
    t.diagnostic(`${events.length - TOTAL} duplicates of ${TOTAL} messages after ${KILLS} kills`);
    assert.equal(
      events.length - TOTAL,
      resent,
      'duplicates are exactly what was delivered but not yet committed at each kill',
    );
    for (const [row, runs] of runsPerRow(events)) {
      assert.ok(
        runs.length <= KILLS + 1,
        `${row}: in order apart from one replay per kill: ${JSON.stringify(runs)}`,
      );
    }
    assert.equal(await last.stop(), 0);
  });
});
