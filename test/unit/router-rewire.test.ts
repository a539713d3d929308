import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { Router } from '../../src/core/router.js';
import { batchOf, changeEvents } from '../helpers/events.js';
import { RecordingSink, stopped, until } from '../helpers/sinks.js';

/** A reload replaces sinks between two batches: held batches wait, then go to the new wiring. */
describe('Router hold and rewire', () => {
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

  test('a batch bound for a held sink waits, and goes to its replacement after rewire', async () => {
    const old = started('out', ['db1']);
    const other = started('other', ['db2']);
    const router = new Router([old, other]);
    router.hold([old]);

    let acks = 0;
    let dispatched = false;
    const waiting = router.dispatch(batchOf(changeEvents(2)), () => acks++).then(() => (dispatched = true));
    // Batches of sources the held sink does not read go on.
    let otherAcks = 0;
    await router.dispatch(batchOf(changeEvents(1), 100, 'db2'), () => otherAcks++);
    await until('the other source to be delivered', () => otherAcks === 1);
    assert.equal(dispatched, false, 'the held batch waits');
    assert.equal(old.stats.eventsIn, 0, 'the held sink took nothing');

    const replacement = started('out', ['db1']);
    router.rewire([replacement, other]);
    await waiting;
    await until('the held batch to be delivered by the replacement', () => acks === 1);
    assert.equal(replacement.writes.length, 1);
    assert.equal(old.stats.eventsIn, 0);
  });

  test('a batch whose sinks were all removed by the rewire is acknowledged at once', async () => {
    const old = started('out', ['db1']);
    const router = new Router([old]);
    router.hold([old]);
    let acks = 0;
    const waiting = router.dispatch(batchOf(changeEvents(1)), () => acks++);
    router.rewire([]);
    await waiting;
    assert.equal(acks, 1);
    assert.equal(old.stats.eventsIn, 0);
  });

  test('a rewire adds a sink to a source from its next batch on', async () => {
    const first = started('first', ['db1']);
    const router = new Router([first]);
    await router.dispatch(batchOf(changeEvents(1)), () => undefined);
    const added = started('added', ['db1']);
    router.rewire([first, added]);
    let acks = 0;
    await router.dispatch(batchOf(changeEvents(1)), () => acks++);
    await until('the batch to be delivered by both sinks', () => acks === 1);
    assert.equal(first.stats.eventsIn, 2);
    assert.equal(added.stats.eventsIn, 1);
  });
});
