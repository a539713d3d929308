import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import type { ChangeEvent } from '../../src/core/event.js';
import { halfwayRelay } from '../fixtures/configs.js';
import { partitionedMessages, runsPerRow } from '../fixtures/events.js';
import { readTopic } from '../harness/kcat.js';
import { PgrelayProcess } from '../harness/pgrelay.js';
import { waitFor } from '../harness/processes.js';
import { committedOffsets, produce, waitForSize } from '../harness/topics.js';

const PARTITIONS = 3;
const ROWS = 300; // a multiple of PARTITIONS: each row stays on partition seq % PARTITIONS
const TOTAL = 30_000;

function seqOf(value: string | null): number {
  return (JSON.parse(value!) as ChangeEvent).columns!.seq as number;
}

describe('kill -9 of a Kafka relay', () => {
  const processes: PgrelayProcess[] = [];
  after(async () => {
    for (const p of processes) await p.destroy();
  });

  it('loses nothing, and resends exactly what was delivered after the last commit', async () => {
    const { brokers, input, out, group, config } = await halfwayRelay('restart', PARTITIONS, ROWS, TOTAL);

    const first = await PgrelayProcess.create(config);
    processes.push(first);
    await first.start();
    // Messages keep arriving while the relay is killed and restarted.
    const producing = (async () => {
      for (let seq = TOTAL / 2; seq < TOTAL; seq += 500) {
        await produce(brokers, input, partitionedMessages(seq, 500, ROWS, PARTITIONS));
        await sleep(50);
      }
    })();
    await waitForSize(brokers, out, 8000);
    await first.kill();
    await sleep(500);

    const beforeRestart = (await readTopic(brokers, out)).map((m) => seqOf(m.value));
    const committed = await committedOffsets(brokers, group, input);
    const delivered = new Set(beforeRestart);
    let committedTotal = 0;
    for (let p = 0; p < PARTITIONS; p++) {
      const offset = Math.max(0, committed.get(p) ?? 0);
      committedTotal += offset;
      // Committed means delivered: every message before the committed offset is in the output.
      for (let o = 0; o < offset; o++)
        assert.ok(delivered.has(o * PARTITIONS + p), `partition ${p} offset ${o} committed, not delivered`);
    }
    assert.ok(committedTotal > 0, 'offsets were committed while the relay ran');

    const second = await PgrelayProcess.create(config);
    processes.push(second);
    await second.start();
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
    assert.equal(
      events.length - TOTAL,
      beforeRestart.length - committedTotal,
      'duplicates are exactly what was delivered but not yet committed at the kill',
    );
    for (const [row, runs] of runsPerRow(events)) {
      assert.ok(runs.length <= 2, `${row}: in order apart from one replay: ${JSON.stringify(runs)}`);
    }
    assert.equal(await second.stop(), 0);
  });
});
