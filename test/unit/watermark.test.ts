import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Watermark } from '../../src/core/watermark.js';

describe('Watermark', () => {
  test('moves only when every earlier ticket is done, whatever order acks come in', () => {
    const advanced: number[] = [];
    const mark = new Watermark<number>(5, (p) => advanced.push(p));
    const [a, b, c] = [mark.track(10), mark.track(20), mark.track(30)];

    mark.ack(c);
    mark.ack(b);
    assert.equal(mark.position, 5, 'tickets behind an unacknowledged one do not count');
    assert.deepEqual(advanced, []);
    assert.equal(mark.inFlight, 3);

    mark.ack(a);
    assert.equal(mark.position, 30, 'the first ack releases everything acknowledged after it');
    assert.deepEqual(advanced, [30], 'one advance for the whole run');
    assert.equal(mark.inFlight, 0);
  });

  test('takes positions only from tickets that complete a resumable unit', () => {
    const mark = new Watermark<number>();
    const middle = mark.track(); // the middle of a transaction: no position of its own
    const end = mark.track(40);
    const next = mark.track();

    mark.ack(middle);
    assert.equal(mark.position, undefined, 'a ticket without a position moves nothing');
    mark.ack(end);
    assert.equal(mark.position, 40);
    mark.ack(next);
    assert.equal(mark.position, 40, 'a later ticket without a position keeps the last one');
  });

  test('never moves backwards: an advance only ever reports the newest completed position', () => {
    const advanced: number[] = [];
    const mark = new Watermark<number>(0, (p) => advanced.push(p));
    const tickets = [1, 2, 3, 4, 5, 6].map((p) => mark.track(p * 10));
    for (const i of [3, 1, 0, 5, 2, 4]) mark.ack(tickets[i]!);
    assert.deepEqual(advanced, [20, 40, 60]);
    assert.ok(advanced.every((p, i) => i === 0 || p > advanced[i - 1]!));
  });

  test('refuses a ticket acknowledged twice or never handed out', () => {
    const mark = new Watermark<number>();
    const first = mark.track(1);
    const second = mark.track(2);
    mark.ack(second);
    assert.throws(() => mark.ack(second), /ticket 1 acknowledged twice/);
    assert.throws(() => mark.ack(7), /unknown ticket 7/);
    mark.ack(first);
    assert.throws(() => mark.ack(first), /unknown ticket 0/, 'a ticket behind the watermark is gone');
  });

  test('keeps its bookkeeping right across many tickets (compaction)', () => {
    const mark = new Watermark<number>();
    const tickets: number[] = [];
    for (let i = 1; i <= 5000; i++) tickets.push(mark.track(i));
    // Acknowledge in pairs, the later one first, so every other ack leaves a gap.
    for (let i = 0; i < tickets.length; i += 2) {
      mark.ack(tickets[i + 1]!);
      assert.equal(mark.position, i === 0 ? undefined : i);
      mark.ack(tickets[i]!);
      assert.equal(mark.position, i + 2);
    }
    assert.equal(mark.inFlight, 0);
    assert.equal(mark.position, 5000);
  });
});
