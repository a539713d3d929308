import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { batchOf, changeEvents } from '../helpers/events.js';
import { RecordingSink, stopped, until } from '../helpers/sinks.js';

/**
 * A sink that delivers whole source batches (as an exactly-once Kafka sink does) and notes, after
 * each delivery, how many source batches were acknowledged by then.
 */
class WholeBatchSink extends RecordingSink {
  readonly ackedAfterDelivery: number[] = [];
  acks = 0;

  protected override get wholeBatches(): boolean {
    return true;
  }

  protected override delivered(): Promise<void> {
    this.ackedAfterDelivery.push(this.acks);
    return Promise.resolve();
  }
}

describe('Sink delivering whole source batches', () => {
  test('no delivery ends inside a source batch, so each one completes the batches it holds', async () => {
    const sink = new WholeBatchSink('out', { batch: { size: 5 } });
    sink.start();
    try {
      // 3 + 3 do not fit in 5: the second batch waits for the next delivery; 7 alone exceeds 5
      // and goes whole rather than in parts.
      for (const size of [3, 3, 7, 2]) sink.accept(batchOf(changeEvents(size)), () => sink.acks++);
      await until('every source batch to be acknowledged', () => sink.acks === 4);
      assert.deepEqual(
        sink.writes.map((w) => w.length),
        [3, 3, 7, 2],
      );
      assert.deepEqual(
        sink.ackedAfterDelivery,
        [1, 2, 3, 4],
        'each delivery acknowledged its batches before delivered()',
      );
    } finally {
      await stopped(sink);
    }
  });

  test('batches that fit together still travel together', async () => {
    const sink = new WholeBatchSink('out', { batch: { size: 10, lingerMs: 3_600_000 } });
    sink.start();
    try {
      for (const size of [4, 4, 2]) sink.accept(batchOf(changeEvents(size)), () => sink.acks++);
      await until('every source batch to be acknowledged', () => sink.acks === 3);
      assert.deepEqual(
        sink.writes.map((w) => w.length),
        [10],
      );
    } finally {
      await stopped(sink);
    }
  });
});
