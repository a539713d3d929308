import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Router } from '../../src/core/router.js';
import { batchOf, changeEvents } from '../helpers/events.js';
import { NO_DEADLINE, RecordingSink, deadlineIn, until } from '../helpers/sinks.js';

describe('Sink backpressure', () => {
  test('capacity() blocks while the buffer is full and releases once deliveries are acknowledged', async () => {
    const sink = new RecordingSink('out', { bufferBytes: 250, batch: { size: 1 } });
    sink.start();
    const release = sink.hold();
    const router = new Router([sink]);
    let acks = 0;

    await router.dispatch(batchOf(changeEvents(1), 100), () => acks++);
    await router.dispatch(batchOf(changeEvents(1), 100), () => acks++);
    assert.equal(sink.capacity(), undefined, '200 of 250 bytes: room left');

    let third = false;
    const dispatching = router
      .dispatch(batchOf(changeEvents(1), 100), () => acks++)
      .then(() => {
        third = true;
      });
    await until(() => sink.attempts === 1);
    assert.equal(third, false, 'the router waits while 300 bytes are buffered');
    assert.ok(sink.capacity() instanceof Promise);

    release();
    await dispatching;
    await until(() => acks === 3);
    assert.equal(sink.capacity(), undefined);
    await sink.stop(NO_DEADLINE);
  });

  test('stop() releases sources waiting for capacity', { timeout: 5000 }, async () => {
    const sink = new RecordingSink('out', { bufferBytes: 100 });
    sink.start();
    sink.hold();
    const router = new Router([sink]);
    const waiting = router.dispatch(batchOf(changeEvents(1), 100), () => undefined);
    await until(() => sink.attempts === 1);
    await sink.stop(deadlineIn(20));
    await waiting;
  });
});
