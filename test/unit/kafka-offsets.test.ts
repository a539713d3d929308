import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PartitionOffsets } from '../../src/sources/kafka/offsets.js';

function commitAll(offsets: PartitionOffsets): Record<string, string> {
  const pending = offsets.take();
  if (pending === undefined) return {};
  pending.succeeded();
  return Object.fromEntries(pending.offsets.map((o) => [`${o.topic}/${o.partition}`, o.offset]));
}

describe('kafka source offsets', () => {
  it('commits a partition only up to where everything before is acknowledged', () => {
    let ready = 0;
    const offsets = new PartitionOffsets(() => ready++);
    const p0 = offsets.partition('t', 0, 100n);
    const first = p0.track(110n);
    const second = p0.track(120n);
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
    const slow = offsets.partition('t', 0, 0n).track(50n);
    offsets.partition('t', 1, 0n).track(70n)();
    offsets.partition('u', 0, 5n).track(9n)();
    assert.deepEqual(commitAll(offsets), { 't/1': '70', 'u/0': '9' });
    assert.equal(offsets.inFlight, 1);
    slow();
    assert.deepEqual(commitAll(offsets), { 't/0': '50' });
  });

  it('after a rebalance, late acknowledgements of the old generation commit nothing', () => {
    const offsets = new PartitionOffsets(() => undefined);
    const old = offsets.partition('t', 0, 0n).track(500n);
    offsets.newGeneration();
    // Fetched again from the committed offset in the new generation: still in flight.
    const again = offsets.partition('t', 0, 0n).track(500n);
    old();
    assert.equal(offsets.take(), undefined);
    assert.equal(offsets.inFlight, 1);
    again();
    assert.deepEqual(commitAll(offsets), { 't/0': '500' });
  });

  it('offers a failed commit again, unless its partition was reassigned meanwhile', () => {
    const offsets = new PartitionOffsets(() => undefined);
    offsets.partition('t', 0, 0n).track(10n)();
    offsets.take()!.failed();
    const retried = offsets.take()!;
    assert.deepEqual(retried.offsets, [{ topic: 't', partition: 0, offset: '10' }]);
    offsets.newGeneration();
    retried.failed();
    assert.equal(offsets.take(), undefined);
  });

  it('reports lag from the committed offset to the partition end', () => {
    const offsets = new PartitionOffsets(() => undefined);
    const p0 = offsets.partition('t', 0, 10n);
    p0.highWatermark = 40n;
    const p1 = offsets.partition('t', 1, 0n);
    p1.highWatermark = 5n;
    p1.track(5n)();
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
});
