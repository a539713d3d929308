import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeliveryCount } from '../../faults/tally.js';

/** The fault suite's arithmetic: lost, duplicated, and which fault a duplicate follows. */
describe('fault suite: counting deliveries', () => {
  it('counts expected changes never delivered as lost, and names some', () => {
    const count = new DeliveryCount(['a', 'b', 'c']);
    count.add('a', 0, 0);
    count.add('c', 0, 1);
    assert.deepEqual(count.counts(), {
      expected: 3,
      lost: 1,
      duplicated: 0,
      worstDuplicates: 0,
      unexpected: 0,
      lostSample: ['b'],
    });
  });

  it('counts deliveries beyond the first, and charges each to the last fault before it', () => {
    // Faults before offsets 2 (partition 0) and 5 (partition 0), 1 (partition 1).
    const marks = [
      new Map([[0, 2]]),
      new Map([
        [0, 5],
        [1, 1],
      ]),
    ];
    const count = new DeliveryCount(['a', 'b', 'c'], marks);
    count.add('a', 0, 0);
    count.add('b', 0, 1);
    count.add('a', 0, 2); // after the first fault
    count.add('b', 0, 3); // after the first fault
    count.add('c', 1, 0);
    count.add('c', 1, 1); // after both faults on partition 1
    count.add('a', 0, 6); // after both faults
    const counts = count.counts();
    assert.equal(counts.lost, 0);
    assert.equal(counts.duplicated, 4);
    assert.equal(counts.worstDuplicates, 2, 'two after each fault');
  });

  it('counts deliveries of changes nobody made, and messages that carry no change not at all', () => {
    const count = new DeliveryCount(['a']);
    count.add('a', 0, 0);
    count.add('z', 0, 1);
    count.add('z', 0, 2);
    count.add(undefined, 0, 3);
    const counts = count.counts();
    assert.equal(counts.unexpected, 1);
    assert.equal(counts.duplicated, 1);
    assert.equal(counts.lost, 0);
  });
});
