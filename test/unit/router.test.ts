import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { Router } from '../../src/core/router.js';
import { batchOf, changeEvents } from '../helpers/events.js';
import { RecordingSink, stopped, until } from '../helpers/sinks.js';

describe('Router', () => {
  const sinks: RecordingSink[] = [];
  const started = (name: string, sources: string[]) => {
    const sink = new RecordingSink(name, { sources });
    sink.start();
    sinks.push(sink);
    return sink;
  };
  afterEach(async () => {
    await Promise.all(sinks.splice(0).map((s) => stopped(s)));
  });

  test('gives a batch to every sink wired to its source, and only to those', async () => {
    const a = started('a', ['db1']);
    const b = started('b', ['db1', 'db2']);
    const c = started('c', ['db2']);
    const router = new Router([a, b, c]);
    assert.deepEqual(
      router.sinksOf('db1').map((s) => s.name),
      ['a', 'b'],
    );

    const events = changeEvents(3);
    let acks = 0;
    await router.dispatch(batchOf(events), () => acks++);
    await until('the batch to be acknowledged', () => acks === 1);
    for (const sink of [a, b]) assert.deepEqual(sink.writtenIds, [events.map((e) => e.id)], sink.name);
    assert.deepEqual(c.writes, []);
  });

  test('acknowledges a batch only once every sink holds it', async () => {
    const fast = started('fast', ['db1']);
    const slow = started('slow', ['db1']);
    const release = slow.hold();
    const router = new Router([fast, slow]);

    let acks = 0;
    await router.dispatch(batchOf(changeEvents(2)), () => acks++);
    await until(
      'the fast sink to deliver and the slow one to start',
      () => fast.writes.length === 1 && slow.attempts === 1,
    );
    assert.equal(acks, 0, 'one sink delivered, the other not yet');

    release();
    await until('the slow sink to deliver', () => slow.writes.length === 1);
    await until('the batch to be acknowledged', () => acks > 0);
    assert.equal(acks, 1, 'acknowledged exactly once');
  });

  test('acknowledges an empty batch at once, without bothering the sinks', async () => {
    const sink = started('a', ['db1']);
    const router = new Router([sink]);
    let acks = 0;
    await router.dispatch(batchOf([]), () => acks++);
    assert.equal(acks, 1);
    assert.equal(sink.stats.eventsIn, 0);
    assert.equal(sink.attempts, 0);
  });

  test('acknowledges a batch of a source no sink reads at once', async () => {
    const router = new Router([started('a', ['db1'])]);
    let acks = 0;
    await router.dispatch(batchOf(changeEvents(1), 100, 'elsewhere'), () => acks++);
    assert.equal(acks, 1);
  });
});
