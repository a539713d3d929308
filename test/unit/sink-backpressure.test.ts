import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { SourceBatch } from '../../src/core/batch.js';
import { Router } from '../../src/core/router.js';
import { batchOf, changeEvents } from '../helpers/events.js';
import { within } from '../harness/processes.js';
import {
  RecordingSink,
  type TestSinkOptions,
  UNIT_WAIT_MS,
  deadlineIn,
  stopped,
  until,
} from '../helpers/sinks.js';

/** The batch as the Kafka source hands out checked pgrelay events: held as their message bytes. */
function heldAsBytes(batch: SourceBatch): SourceBatch {
  return { ...batch, heldAsBytes: true };
}

/** A dispatch under way, and whether the router has handed its batch over yet. */
function tracked(dispatching: Promise<void>): { done: Promise<void>; handedOver: () => boolean } {
  let handedOver = false;
  const done = dispatching.then(() => {
    handedOver = true;
  });
  return { done, handedOver: () => handedOver };
}

/** A started sink whose writes wait until `release()`, and the router in front of it. */
function heldSink(options: TestSinkOptions): { sink: RecordingSink; release: () => void; router: Router } {
  const sink = new RecordingSink('out', options);
  sink.start();
  const release = sink.hold();
  return { sink, release, router: new Router([sink]) };
}

describe('Sink backpressure', () => {
  test('capacity() blocks while the buffer is full and releases once deliveries are acknowledged', async () => {
    // Batches of 2 events: the buffer's bytes run out before the event cap (one delivery's worth).
    const { sink, release, router } = heldSink({ bufferBytes: 250, batch: { size: 10 } });
    let acks = 0;

    await router.dispatch(batchOf(changeEvents(2), 50), () => acks++);
    await router.dispatch(batchOf(changeEvents(2), 50), () => acks++);
    assert.equal(sink.capacity(), undefined, '200 of 250 bytes, 4 of 10 events: room left');

    const third = tracked(router.dispatch(batchOf(changeEvents(2), 50), () => acks++));
    await until('the first write to start', () => sink.attempts === 1);
    assert.equal(third.handedOver(), false, 'the router waits while 300 bytes are buffered');
    assert.ok(sink.capacity() instanceof Promise);

    release();
    await within('the router to hand over the third batch once there is room', third.done, UNIT_WAIT_MS);
    await until('all three batches to be acknowledged', () => acks === 3);
    assert.equal(sink.capacity(), undefined);
    await stopped(sink);
  });

  test("capacity() blocks once a delivery's worth of events is buffered or in flight, however few bytes", async () => {
    const { sink, release, router } = heldSink({ bufferBytes: 1 << 20, batch: { size: 3 } });
    let acks = 0;

    await router.dispatch(batchOf(changeEvents(2), 5), () => acks++);
    assert.equal(sink.capacity(), undefined, '2 of 3 events: room left');
    const second = tracked(router.dispatch(batchOf(changeEvents(2), 5), () => acks++));
    await until('the first write to start', () => sink.attempts === 1);
    await nextTurn();
    assert.equal(second.handedOver(), false, 'the router waits while 4 events (20 bytes) are buffered');
    assert.ok(sink.capacity() instanceof Promise);

    release();
    await within('the router to go on once the events are delivered', second.done, UNIT_WAIT_MS);
    await until('both batches to be acknowledged', () => acks === 2);
    assert.equal(sink.capacity(), undefined);
    await stopped(sink);
  });

  test("capacity() blocks once a delivery's worth of events held as bytes waits besides the one in flight", async () => {
    const { sink, release, router } = heldSink({ bufferBytes: 1 << 20, batch: { size: 3 } });
    let acks = 0;

    await router.dispatch(heldAsBytes(batchOf(changeEvents(2), 5)), () => acks++);
    await until('the first delivery (2 events) to be in flight', () => sink.attempts === 1);
    await within(
      'room for 2 events behind the 2 in flight',
      router.dispatch(heldAsBytes(batchOf(changeEvents(2), 5)), () => acks++),
      UNIT_WAIT_MS,
    );
    assert.equal(sink.capacity(), undefined, '2 events in flight, 2 of 3 waiting: room left');
    const third = tracked(router.dispatch(heldAsBytes(batchOf(changeEvents(2), 5)), () => acks++));
    await nextTurn();
    assert.equal(
      third.handedOver(),
      false,
      'the router waits while 4 events (20 bytes) wait behind the delivery in flight',
    );
    assert.ok(sink.capacity() instanceof Promise);

    release();
    await within('the router to go on once the next delivery took 3 of them', third.done, UNIT_WAIT_MS);
    await until('all three batches to be acknowledged', () => acks === 3);
    assert.equal(sink.capacity(), undefined);
    assert.deepEqual(
      sink.writes.map((records) => records.length),
      [2, 3, 1],
    );
    await stopped(sink);
  });

  test('waiting sources go on only once the sink sent its next delivery', async () => {
    const { sink, release, router } = heldSink({ bufferBytes: 1 << 20, batch: { size: 3 } });

    await router.dispatch(heldAsBytes(batchOf(changeEvents(2), 5)), () => undefined);
    await until('the first delivery to be in flight', () => sink.attempts === 1);
    let attemptsWhenResumed = 0;
    const waiting = router
      .dispatch(heldAsBytes(batchOf(changeEvents(3), 5)), () => undefined)
      .then(() => {
        attemptsWhenResumed = sink.attempts;
      });
    await nextTurn();
    assert.equal(attemptsWhenResumed, 0, 'a delivery waits: the source waits');

    release();
    await within('the source to go on', waiting, UNIT_WAIT_MS);
    assert.equal(attemptsWhenResumed, 2, 'the second delivery was being written when the source went on');
    await stopped(sink);
  });

  test('stop() releases sources waiting for capacity', async () => {
    const sink = new RecordingSink('out', { bufferBytes: 100 });
    sink.start();
    sink.hold();
    const router = new Router([sink]);
    const waiting = router.dispatch(batchOf(changeEvents(1), 100), () => undefined);
    await until('the write to start', () => sink.attempts === 1);
    await stopped(sink, deadlineIn(20));
    await within('the router to let the waiting source go', waiting, UNIT_WAIT_MS);
  });
});
