import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { PgRelayError } from '../../src/core/errors.js';
import { batchOf, changeEvent, changeEvents } from '../helpers/events.js';
import { RecordingSink, type TestSinkOptions, deadlineIn, stopped, until } from '../helpers/sinks.js';

/** Long enough that no test ever sees it expire: only size, bytes or stop() can end the wait. */
const FOREVER = 3_600_000;

async function withSink(options: TestSinkOptions, body: (sink: RecordingSink) => Promise<void>) {
  const sink = new RecordingSink('out', options);
  sink.start();
  try {
    await body(sink);
  } finally {
    await stopped(sink);
  }
}

const sizes = (sink: RecordingSink) => sink.writes.map((w) => w.length);

describe('Sink batching', () => {
  test('splits by batch size, in order, and acknowledges a source batch once all of it is delivered', () =>
    withSink({ batch: { size: 3 } }, async (sink) => {
      const events = changeEvents(7);
      let acks = 0;
      sink.accept(batchOf(events), () => acks++);
      await until('the source batch to be acknowledged', () => acks === 1);
      assert.deepEqual(sizes(sink), [3, 3, 1]);
      assert.deepEqual(
        sink.writtenIds.flat(),
        events.map((e) => e.id),
      );
      assert.equal(sink.stats.batches, 3);
      assert.equal(sink.stats.eventsOut, 7);
    }));

  test('no delivery exceeds batch_bytes, except a single event larger than the limit', () =>
    withSink({ batch: { bytes: 250 } }, async (sink) => {
      let acks = 0;
      sink.accept(batchOf(changeEvents(5), 100), () => acks++);
      sink.accept(batchOf(changeEvents(1), 100), () => acks++);
      sink.accept(batchOf([changeEvent()], 1000), () => acks++);
      await until('all three source batches to be acknowledged', () => acks === 3);
      assert.deepEqual(sizes(sink), [2, 2, 2, 1]);
    }));

  test('a partial batch waits for linger, and events arriving meanwhile join it', () =>
    withSink({ batch: { size: 4, lingerMs: FOREVER } }, async (sink) => {
      const acked: string[] = [];
      sink.accept(batchOf(changeEvents(1)), () => acked.push('first'));
      await sleep(20);
      sink.accept(batchOf(changeEvents(2)), () => acked.push('second'));
      await sleep(20);
      assert.equal(sink.attempts, 0, 'nothing goes while the batch is neither full nor lingered out');
      sink.accept(batchOf(changeEvents(3)), () => acked.push('third'));
      await until('the first two source batches to be acknowledged', () => acked.length === 2);
      assert.deepEqual(
        sizes(sink),
        [4],
        'a full batch goes without waiting, taking from three source batches',
      );
      assert.deepEqual(acked, ['first', 'second'], 'the third is only half delivered');
    }));

  test('a partial batch goes once its linger has passed', () =>
    withSink({ batch: { size: 100, lingerMs: 10 } }, async (sink) => {
      let acks = 0;
      sink.accept(batchOf(changeEvents(2)), () => acks++);
      await until('the lingering batch to be delivered and acknowledged', () => acks === 1);
      assert.deepEqual(sizes(sink), [2]);
    }));

  test('acknowledges source batches in order, each as soon as its last event is delivered', () =>
    withSink({ batch: { size: 3 } }, async (sink) => {
      const acked: string[] = [];
      sink.accept(batchOf(changeEvents(2)), () => acked.push(`a after ${sink.writes.length} writes`));
      sink.accept(batchOf(changeEvents(3)), () => acked.push(`b after ${sink.writes.length} writes`));
      await until('both source batches to be acknowledged', () => acked.length === 2);
      assert.deepEqual(sizes(sink), [3, 2]);
      assert.deepEqual(acked, ['a after 1 writes', 'b after 2 writes']);
    }));

  test('a write failing retriably is retried: delivered once, acknowledged once, order kept', () =>
    withSink({ batch: { size: 1 } }, async (sink) => {
      sink.failNext(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
      sink.failNext(new PgRelayError('TEST_DOWN', 'leader moved', { retriable: true }));
      const events = changeEvents(3);
      const acks: string[] = [];
      for (const event of events) sink.accept(batchOf([event]), () => acks.push(event.id));
      await until('all three events to be delivered after the retries', () => acks.length === 3);
      assert.deepEqual(
        sink.writtenIds,
        events.map((e) => [e.id]),
      );
      assert.deepEqual(
        acks,
        events.map((e) => e.id),
      );
      assert.equal(sink.attempts, 5);
      assert.equal(sink.stats.errors, 2);
      assert.equal(sink.health.state, 'running', 'back to running after the retry succeeded');
      assert.equal(sink.health.lastError?.message, 'leader moved', 'the last error stays visible');
    }));

  test('a non-retriable failure stops the sink: failed, nothing acknowledged, nothing after it written', () =>
    withSink({ batch: { size: 1 } }, async (sink) => {
      sink.failNext(new PgRelayError('TEST_TOO_LARGE', 'message too large', { retriable: false }));
      let acks = 0;
      sink.accept(batchOf(changeEvents(1)), () => acks++);
      sink.accept(batchOf(changeEvents(1)), () => acks++);
      await until('the sink to fail', () => sink.health.state === 'failed');
      await sleep(20);
      assert.equal(acks, 0);
      assert.equal(sink.attempts, 1);
      assert.deepEqual(sink.writes, []);
      assert.deepEqual(
        { message: sink.health.lastError?.message, code: sink.health.lastError?.code },
        { message: 'message too large', code: 'TEST_TOO_LARGE' },
      );
      assert.equal(sink.backlog, 2);
    }));
});

describe('Sink stop', () => {
  test('delivers what is buffered, lingering or not, then reports stopped', async () => {
    const sink = new RecordingSink('out', { batch: { lingerMs: FOREVER } });
    sink.start();
    let acks = 0;
    sink.accept(batchOf(changeEvents(3)), () => acks++);
    await stopped(sink);
    assert.equal(acks, 1);
    assert.deepEqual(sizes(sink), [3]);
    assert.equal(sink.health.state, 'stopped');
  });

  test('leaves no timer behind when new events cut a linger short', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const sink = new RecordingSink('out', { batch: { size: 2, lingerMs: FOREVER } });
    sink.start();
    let acks = 0;
    sink.accept(batchOf(changeEvents(1)), () => acks++);
    await sleep(10);
    sink.accept(batchOf(changeEvents(1)), () => acks++);
    await until('both batches to be acknowledged', () => acks === 2);
    await stopped(sink);
    assert.equal(timers(), before, 'a pending linger timer would keep a stopped pgrelay alive');
  });

  test('gives up at the deadline when the destination keeps failing, acknowledging nothing', async () => {
    const sink = new RecordingSink('out');
    sink.start();
    sink.failNext(new PgRelayError('TEST_DOWN', 'broker down', { retriable: true }), Infinity);
    let acks = 0;
    sink.accept(batchOf(changeEvents(1)), () => acks++);
    await until('the sink to retry', () => sink.health.state === 'retrying');
    await stopped(sink, deadlineIn(50));
    assert.equal(acks, 0);
    assert.equal(sink.health.state, 'stopped');
  });

  test('gives up at the deadline when a write hangs, and never acknowledges it if it ends later', async () => {
    const sink = new RecordingSink('out');
    sink.start();
    const release = sink.hold();
    let acks = 0;
    sink.accept(batchOf(changeEvents(1)), () => acks++);
    await until('the write to start', () => sink.attempts === 1);
    await stopped(sink, deadlineIn(50));
    assert.equal(acks, 0);
    assert.equal(sink.health.state, 'stopped');

    // By now the source stored its position and the state file is closed: a late ack must not reach it.
    release();
    await until('the released write to end', () => sink.writes.length === 1);
    assert.equal(acks, 0);
  });
});
