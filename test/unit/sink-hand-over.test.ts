import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { PgRelayError } from '../../src/core/errors.js';
import type { ChangeEvent, RelayEvent } from '../../src/core/event.js';
import type { Handler } from '../../src/core/handler.js';
import { batchOf, changeEvents } from '../helpers/events.js';
import { RecordingSink, deadlineIn, stopped, until } from '../helpers/sinks.js';

const idsOf = (events: readonly RelayEvent[]) => events.map((e) => (e as ChangeEvent).id);

/**
 * A reload replacing a sink that could not deliver (it failed, or the deadline passed) hands what it
 * holds to its replacement with the acknowledgements: nothing is acknowledged undelivered, nothing
 * twice.
 */
describe('Sink hand-over of undelivered batches', () => {
  test('a failed sink gives up what it holds, past what it delivered; the replacement delivers the rest', async () => {
    const old = new RecordingSink('out', { batch: { size: 2 } });
    old.start();
    const events = changeEvents(5);
    const acks: string[] = [];
    old.failNext(new PgRelayError('TEST_REFUSED', 'refused'), 1);
    // The first write (2 events) fails for good: nothing delivered.
    old.accept(batchOf(events.slice(0, 3)), () => acks.push('a'));
    old.accept(batchOf(events.slice(3)), () => acks.push('b'));
    await until('the sink to fail', () => old.health.state === 'failed');
    await stopped(old);

    const leftovers = old.takeUndelivered();
    assert.deepEqual(
      leftovers.map(({ batch }) => idsOf(batch.events)),
      [idsOf(events.slice(0, 3)), idsOf(events.slice(3))],
    );
    assert.deepEqual(old.takeUndelivered(), [], 'handed over once');
    assert.equal(old.backlog, 0);

    const replacement = new RecordingSink('out');
    replacement.start();
    for (const { batch, ack } of leftovers) replacement.accept(batch, ack);
    await until('both batches to be acknowledged', () => acks.length === 2);
    assert.deepEqual(acks, ['a', 'b']);
    assert.deepEqual(
      replacement.writtenIds.flat(),
      events.map((e) => e.id),
    );
    await stopped(replacement);
  });

  test('a batch partly delivered is handed over from where delivery stopped', async () => {
    const events = changeEvents(5);
    // Deliveries of two events: the first goes, the second fails for good on the third event.
    const picky: Handler = {
      name: 'picky',
      process: (batch) =>
        batch.map((event) => {
          if (event === events[2]) throw new Error('cannot handle it');
          return event;
        }),
    };
    const old = new RecordingSink('out', { batch: { size: 2 }, handlers: [picky] });
    old.start();
    let acks = 0;
    old.accept(batchOf(events), () => acks++);
    await until('the sink to fail', () => old.health.state === 'failed');
    await stopped(old);
    assert.equal(old.writes.length, 1);
    const [leftover, ...more] = old.takeUndelivered();
    assert.deepEqual(more, []);
    assert.deepEqual(idsOf(leftover!.batch.events), idsOf(events.slice(2)));
    assert.equal(leftover!.batch.bytes, 300, 'its size in proportion');
    assert.equal(acks, 0, 'not acknowledged: part of it is undelivered');
    leftover!.ack();
    assert.equal(acks, 1);
  });

  test('a write the deadline cut short is handed over, and its late end acknowledges nothing', async () => {
    const old = new RecordingSink('out');
    old.start();
    const release = old.hold();
    let acks = 0;
    old.accept(batchOf(changeEvents(2)), () => acks++);
    await until('the write to start', () => old.attempts === 1);
    await stopped(old, deadlineIn(10));
    const leftovers = old.takeUndelivered();
    assert.equal(leftovers.length, 1, 'the batch in flight is handed over');
    release();
    await until('the late write to end', () => old.writes.length === 1);
    await nextTurn();
    assert.equal(acks, 0, 'the old sink acknowledges nothing after its stop');
    leftovers[0]!.ack();
    assert.equal(acks, 1);
  });
});
