import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import type { ChangeEvent } from '../../src/core/event.js';
import { halfwayRelay } from '../fixtures/configs.js';
import { partitionedMessages, runsPerRow } from '../fixtures/events.js';
import { readTopic } from '../harness/kcat.js';
import { PgrelayProcess, type StatusBody } from '../harness/pgrelay.js';
import { waitFor } from '../harness/processes.js';
import { committedOffsets, produce, waitForSize } from '../harness/topics.js';

const PARTITIONS = 6;
const ROWS = 600;
const TOTAL = 40_000;

function assigned(status: StatusBody): number {
  const assignment = status.sources.edge!.assignment as Record<string, number[]>;
  return Object.values(assignment).reduce((n, partitions) => n + partitions.length, 0);
}

async function delivered(relay: PgrelayProcess): Promise<number> {
  const stats = (await (await relay.get('/stats')).json()) as {
    sinks: Record<string, { events_out: number }>;
  };
  return stats.sinks.central!.events_out;
}

describe('consumer group rebalances', () => {
  const processes: PgrelayProcess[] = [];
  after(async () => {
    for (const p of processes) await p.destroy();
  });

  it('lose nothing when a second relay joins the group mid-stream and the first one leaves', async () => {
    const { brokers, input, out, group, config } = await halfwayRelay('rebalance', PARTITIONS, ROWS, TOTAL);

    const first = await PgrelayProcess.create(config);
    const second = await PgrelayProcess.create(config);
    processes.push(first, second);
    await first.start();
    // Messages keep arriving: a quarter while the first relay runs alone, the rest once the second
    // one holds partitions (so it has something to deliver, however fast the first one was).
    const shared = Promise.withResolvers<void>();
    const producing = (async () => {
      for (let seq = TOTAL / 2; seq < TOTAL; seq += 500) {
        if (seq === (3 * TOTAL) / 4) await shared.promise;
        await produce(brokers, input, partitionedMessages(seq, 500, ROWS, PARTITIONS));
        await sleep(100);
      }
    })();

    await waitForSize(brokers, out, 5000);
    await second.start();
    await waitFor(
      'the partitions to be shared by both relays',
      async () => {
        const [a, b] = [assigned(await first.status()), assigned(await second.status())];
        return a > 0 && b > 0 && a + b === PARTITIONS ? true : undefined;
      },
      30_000,
    );
    shared.resolve();
    await waitFor(
      'the second relay to deliver',
      async () => ((await delivered(second)) > 0 ? true : undefined),
      30_000,
    );
    const firstDelivered = await delivered(first);
    assert.equal(await first.stop(), 0, 'the first relay leaves cleanly');
    await waitFor(
      'the second relay to own every partition',
      async () => (assigned(await second.status()) === PARTITIONS ? true : undefined),
      30_000,
    );

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
    assert.equal(new Set(events.map((e) => e.columns!.seq)).size, TOTAL, 'nothing missing');
    assert.ok(firstDelivered > 0);
    assert.ok(
      events.length < TOTAL + firstDelivered,
      `${events.length - TOTAL} duplicates: not a replay from scratch`,
    );
    // Each row's partition moved at most twice (to the joining relay, back when the first left).
    for (const [row, runs] of runsPerRow(events)) {
      assert.ok(
        runs.length <= 3,
        `${row}: in order apart from replays at the rebalances: ${JSON.stringify(runs)}`,
      );
    }
    assert.equal((await second.status()).status, 'ok');
    assert.equal(await second.stop(), 0);
  });
});
