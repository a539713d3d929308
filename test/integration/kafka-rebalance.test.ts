import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { ChangeEvent } from '../../src/core/event.js';
import { halfwayRelay } from '../fixtures/configs.js';
import { partitionedMessages, runsPerRow } from '../fixtures/events.js';
import { readTopic } from '../harness/kcat.js';
import { PgrelayProcess, type StatusBody } from '../harness/pgrelay.js';
import { waitFor } from '../harness/processes.js';
import { committedOffsets, produce, topicSize, waitForSize } from '../harness/topics.js';

const PARTITIONS = 6;
const ROWS = 600;
/** Twice what the input holds before the first relay starts. */
const HALFWAY_TOTAL = 40_000;
/** Messages per request of the stream: a multiple of PARTITIONS, so every partition gets some. */
const CHUNK = 300;
/** Generous deadlines for a loaded machine: a rebalance takes seconds, a relay's start up to a minute. */
const REBALANCE_MS = 120_000;

function assigned(status: StatusBody): number {
  const assignment = status.sources.edge!.assignment as Record<string, number[]>;
  return Object.values(assignment).reduce((n, partitions) => n + partitions.length, 0);
}

async function delivered(relay: PgrelayProcess): Promise<number> {
  const stats = await relay.stats();
  return stats.sinks.central!.events_out;
}

/**
 * Keeps messages flowing into `input` until stopped: a chunk whenever the output has caught up with
 * all but the last one, so the relays always have work in flight, at whatever pace they manage.
 */
function stream(brokers: string[], input: string, out: string, first: number) {
  let next = first;
  let running = true;
  const producing = (async () => {
    while (running) {
      await waitForSize(brokers, out, next - CHUNK, REBALANCE_MS);
      await produce(brokers, input, partitionedMessages(next, CHUNK, ROWS, PARTITIONS));
      next += CHUNK;
    }
  })();
  // A failure surfaces through stop(); until then it must not count as unhandled.
  producing.catch(() => undefined);
  return {
    /** Stops producing and returns how many messages the input holds. */
    async stop(): Promise<number> {
      running = false;
      await producing;
      return next;
    },
  };
}

describe('consumer group rebalances', () => {
  const processes: PgrelayProcess[] = [];
  after(async () => {
    for (const p of processes) await p.destroy();
  });

  it('lose nothing when a second relay joins the group mid-stream and the first one leaves', async () => {
    const { brokers, input, out, group, config } = await halfwayRelay(
      'rebalance',
      PARTITIONS,
      ROWS,
      HALFWAY_TOTAL,
    );

    const first = await PgrelayProcess.create(config);
    const second = await PgrelayProcess.create(config);
    processes.push(first, second);
    await first.start();
    const flow = stream(brokers, input, out, HALFWAY_TOTAL / 2);

    await waitForSize(brokers, out, 5000, REBALANCE_MS);
    await second.start();
    await waitFor(
      'the partitions to be shared by both relays',
      async () => {
        const [a, b] = [assigned(await first.status()), assigned(await second.status())];
        return a > 0 && b > 0 && a + b === PARTITIONS ? true : undefined;
      },
      REBALANCE_MS,
    );
    await waitFor(
      'the second relay to deliver',
      async () => ((await delivered(second)) > 0 ? true : undefined),
      REBALANCE_MS,
    );
    const firstDelivered = await delivered(first);
    assert.equal(await first.stop(), 0, 'the first relay leaves cleanly');
    await waitFor(
      'the second relay to own every partition',
      async () => (assigned(await second.status()) === PARTITIONS ? true : undefined),
      REBALANCE_MS,
    );

    const total = await flow.stop();
    let [committed, inputSize] = [new Map<number, number>(), 0];
    await waitFor(
      () =>
        `every offset to be committed: ${total} messages produced, ${inputSize} in the input, ` +
        `committed per partition ${JSON.stringify([...committed])}`,
      async () => {
        [committed, inputSize] = await Promise.all([
          committedOffsets(brokers, group, input),
          topicSize(brokers, input),
        ]);
        return [...committed.values()].reduce((a, b) => a + b, 0) === total ? true : undefined;
      },
      REBALANCE_MS,
      second.logFile,
    );
    const events = (await readTopic(brokers, out)).map((m) => JSON.parse(m.value!) as ChangeEvent);
    assert.equal(new Set(events.map((e) => e.columns!.seq)).size, total, 'nothing missing');
    assert.ok(firstDelivered > 0);
    assert.ok(
      events.length < total + firstDelivered,
      `${events.length - total} duplicates: not a replay from scratch`,
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
