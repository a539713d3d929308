import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { relayMessages } from '../fixtures/events.js';
import { coveredByCommits } from '../../faults/cases/relay-kill.js';
import { coveredBy } from '../../faults/postgres-feed.js';
import { DeliveryCount, InFlightCount } from '../../faults/tally.js';
import type { ConsumedMessage } from '../harness/kcat.js';

/** A message of an output topic at `offset` of partition 0 carrying `value`. */
function message(offset: number, value: unknown): ConsumedMessage {
  return {
    topic: 'out',
    partition: 0,
    offset,
    key: null,
    value: JSON.stringify(value),
    headers: {},
    headerList: [],
  };
}

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
      duplicatesPerFault: [0],
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
    assert.deepEqual(counts.duplicatesPerFault, [0, 2, 2], 'none before a fault, two after each');
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

  it('counts, per kill, what Kafka held then beyond the stored position: the duplicates it may cause', () => {
    // Transactions committed at 0/100 (2 events) and 0/300 (3 events); pgrelay stored the end of the
    // first (0/180) and 1 event of the second, then was killed with 0/100:0..0/300:2 in Kafka.
    const events = ['0/100:0', '0/100:1', '0/300:0', '0/300:1', '0/300:2'].map((id, offset) =>
      message(offset, { id, lsn: id.split(':')[0] }),
    );
    const partly = coveredBy({
      source: 'db',
      position: '0/180',
      meta: { slot: 's', transaction: '0/300', delivered_events: 1 },
      updatedAt: '',
    });
    assert.deepEqual(
      events.map((m) => partly(m)),
      [true, true, true, false, false],
    );
    const whole = coveredBy({ source: 'db', position: '0/400', meta: { slot: 's' }, updatedAt: '' });
    assert.ok(
      events.every((m) => whole(m)),
      'every transaction committed before the stored LSN',
    );

    // Killed twice: first with 3 messages in Kafka, then with all 5 (the first kill's state file).
    const count = new InFlightCount([
      {
        end: new Map([[0, 3]]),
        covered: coveredBy({ source: 'db', position: '0/100', meta: {}, updatedAt: '' }),
      },
      { end: new Map([[0, 5]]), covered: partly },
    ]);
    for (const m of events) count.add(m);
    assert.deepEqual(count.counts(), [3, 2], 'beyond 0/100: 3 of the first 3; beyond the partial: 2 of 5');
  });

  it('for a Kafka relay, in flight is what the output holds beyond the committed input offsets', () => {
    // relayMessages' seq i went to partition i % 3 at offset i / 3; offsets 0..1 committed on each
    // partition cover seqs 0..5.
    const relayed = relayMessages(8).map((m, offset) => message(offset, JSON.parse(m.value)));
    const covered = coveredByCommits(
      new Map([
        [0, 2],
        [1, 2],
        [2, -1],
      ]),
    );
    assert.deepEqual(
      relayed.map((m) => covered(m)),
      [true, true, false, true, true, false, false, false],
      'partition 2 has no commit: nothing of it is covered',
    );
  });
});
