import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PartitionOffsets } from '../../src/sources/kafka/offsets.js';

function commitAll(offsets: PartitionOffsets): Record<string, string> {
  const pending = offsets.take();
  if (pending === undefined) return {};
  pending.succeeded();
  return Object.fromEntries(pending.offsets.map((o) => [`${o.topic}/${o.partition}`, String(o.offset)]));
}

describe('kafka source offsets', () => {
  it('commits a partition only up to where everything before is acknowledged', () => {
    let ready = 0;
    const offsets = new PartitionOffsets(() => ready++);
    const p0 = offsets.assign('t', 0, 100);
    const first = p0.track(110);
    const second = p0.track(120);
    second();
    assert.equal(ready, 0);
    assert.deepEqual(commitAll(offsets), {});
    first();
    assert.equal(ready, 1);
    assert.deepEqual(commitAll(offsets), { 't/0': '120' });
    assert.equal(offsets.inFlight, 0);
  });

  it('keeps partitions apart: one slow partition holds only its own offset', () => {
    const offsets = new PartitionOffsets(() => undefined);
    const slow = offsets.assign('t', 0, 0).track(50);
    offsets.assign('t', 1, 0).track(70)();
    offsets.assign('u', 0, 5).track(9)();
    assert.deepEqual(commitAll(offsets), { 't/1': '70', 'u/0': '9' });
    assert.equal(offsets.inFlight, 1);
    slow();
    assert.deepEqual(commitAll(offsets), { 't/0': '50' });
  });

  it('once a partition is given up, its late acknowledgements commit nothing', () => {
    const offsets = new PartitionOffsets(() => undefined);
    const kept = offsets.assign('t', 1, 0);
    const given = offsets.assign('t', 0, 0);
    const old = given.track(500);
    const keptAck = kept.track(30);
    offsets.release(given);
    old();
    assert.equal(offsets.take(), undefined);
    assert.equal(offsets.inFlight, 1, 'the kept partition is still in flight');
    keptAck();
    assert.deepEqual(commitAll(offsets), { 't/1': '30' }, 'a partition that stays is not disturbed');
  });

  it('a partition assigned again starts over: the earlier assignment acknowledges into nothing', () => {
    const offsets = new PartitionOffsets(() => undefined);
    const old = offsets.assign('t', 0, 0).track(500);
    // Fetched again from the committed offset: still in flight.
    const again = offsets.assign('t', 0, 0).track(500);
    old();
    assert.equal(offsets.take(), undefined);
    assert.equal(offsets.inFlight, 1);
    again();
    assert.deepEqual(commitAll(offsets), { 't/0': '500' });
  });

  it('offers a failed commit again, unless its partition was given up meanwhile', () => {
    const offsets = new PartitionOffsets(() => undefined);
    const progress = offsets.assign('t', 0, 0);
    progress.track(10)();
    offsets.take()!.failed();
    assert.equal(offsets.pending, true);
    const retried = offsets.take()!;
    assert.deepEqual(retried.offsets, [{ topic: 't', partition: 0, offset: 10 }]);
    offsets.release(progress);
    retried.failed();
    assert.equal(offsets.take(), undefined);
  });

  it('reports lag from the committed offset to the partition end', () => {
    const offsets = new PartitionOffsets(() => undefined);
    const p0 = offsets.assign('t', 0, 10);
    p0.highWatermark = 40;
    const p1 = offsets.assign('t', 1, 0);
    p1.highWatermark = 5;
    p1.track(5)();
    assert.equal(offsets.lag, 35);
    commitAll(offsets);
    assert.equal(offsets.lag, 30);
    assert.deepEqual(offsets.report()['t/1'], {
      committed: '5',
      delivered: '5',
      high_watermark: '5',
      in_flight: 0,
    });
  });

  it('reports partitions by topic, then by partition number', () => {
    const offsets = new PartitionOffsets(() => undefined);
    for (const [topic, partition] of [
      ['orders', 10],
      ['Orders', 0],
      ['orders', 2],
      ['audit.log', 1],
    ] as const)
      offsets.assign(topic, partition, 0);
    assert.deepEqual(Object.keys(offsets.report()), ['Orders/0', 'audit.log/1', 'orders/2', 'orders/10']);
  });
});
