import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Reader, readRecordsBatch } from '@platformatic/kafka';
import { BatchStamper, type OutgoingBatch } from '../../src/kafka/producer.js';
import { BatchEncoder, DeliveryPlan, type TopicTarget } from '../../src/sinks/kafka/requests.js';

const topic: TopicTarget = { name: 'cdc.users', partitions: 1, limit: 4_000, sticky: 0 };
const encoder = new BatchEncoder('none', 1 << 20);

/** A plan of `count` records of ~300 bytes, encoded: several batches for the one partition. */
function encoded(count: number): DeliveryPlan {
  const records = Array.from({ length: count }, (_, i) => ({ key: String(i), value: 'v'.repeat(300) }));
  const plan = new DeliveryPlan(
    records,
    records.map(() => topic),
  );
  encoder.encode(plan);
  return plan;
}

/** Producer id, epoch and first sequence of each batch, as the broker reads them. */
function stamps(batches: OutgoingBatch[]): string[] {
  return batches.map((outgoing) => {
    const batch = readRecordsBatch(Reader.from(outgoing.batch.bytes));
    return `${batch.producerId}/${batch.producerEpoch}/${batch.firstSequence}+${batch.records.length}`;
  });
}

describe('Kafka producer: a batch is stamped as it is first sent', () => {
  test('sequences follow the order of sending, not of encoding: a plan encoded ahead goes on from the one sent before it', () => {
    const stamper = new BatchStamper(true);
    stamper.restart({ producerId: 7n, producerEpoch: 2 });
    const first = encoded(30);
    const ahead = encoded(20);
    assert.ok(first.batches.length > 1 && ahead.batches.length > 1, 'several batches each');
    assert.ok(
      ahead.batches.every((b) => !b.batch.sealed),
      'encoding claims nothing',
    );
    stamper.seal(first.batches);
    stamper.seal(ahead.batches);
    const all = [...stamps(first.batches), ...stamps(ahead.batches)];
    let next = 0;
    for (const stamp of all) {
      const [id, epoch, sequence, count] = stamp.split(/[/+]/).map(Number);
      assert.deepEqual([id, epoch, sequence], [7, 2, next], stamp);
      next += count!;
    }
    assert.equal(next, 50);
  });

  test('a sealed batch sent again keeps its stamp; after a restart, new batches start at 0 under the new id', () => {
    const stamper = new BatchStamper(true);
    stamper.restart({ producerId: 7n, producerEpoch: 0 });
    const plan = encoded(30);
    stamper.seal(plan.batches);
    const before = stamps(plan.batches);
    stamper.restart({ producerId: 8n, producerEpoch: 0 });
    stamper.seal(plan.batches);
    assert.deepEqual(stamps(plan.batches), before, 'the same bytes go again');
    const next = encoded(10);
    stamper.seal(next.batches);
    assert.match(stamps(next.batches)[0]!, /^8\/0\/0\+/);
  });

  test('only pending batches are stamped: acknowledged and failed ones claim no sequence', () => {
    const stamper = new BatchStamper(true);
    stamper.restart({ producerId: 7n, producerEpoch: 0 });
    const plan = encoded(30);
    plan.batches[0]!.state = 'failed';
    stamper.seal(plan.batches);
    assert.equal(plan.batches[0]!.batch.sealed, false);
    assert.match(stamps(plan.batches.slice(1))[0]!, /^7\/0\/0\+/);
  });

  test('without idempotence every batch carries no producer id and no sequence', () => {
    const stamper = new BatchStamper(false);
    const plan = encoded(10);
    stamper.seal(plan.batches);
    for (const stamp of stamps(plan.batches)) assert.match(stamp, /^-1\/-1\/-1\+/);
  });
});
