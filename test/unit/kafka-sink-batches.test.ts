import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Reader, readRecordsBatch } from '@platformatic/kafka';
import type { SinkRecord } from '../../src/core/handler.js';
import { BatchStamper } from '../../src/kafka/producer.js';
import { BatchEncoder, DeliveryPlan, type TopicTarget } from '../../src/sinks/kafka/requests.js';
import { changeEvent, rawEvent } from '../helpers/events.js';

function target(limit: number, partitions = 3): TopicTarget {
  return { name: 'cdc.users', partitions, limit, sticky: 0 };
}

/** Stamps the plan's pending batches as the producer does when it sends them. */
function send(plan: DeliveryPlan): void {
  const stamper = new BatchStamper(true);
  stamper.restart({ producerId: 7n, producerEpoch: 0 });
  stamper.seal(plan.batches);
}

function record(n: number, bytes = 100): SinkRecord {
  const event = changeEvent({ key: { id: String(n) } });
  return { key: JSON.stringify(event.key), value: `${n}:`.padEnd(bytes, 'x'), origin: event };
}

/** Per partition, the values it received, in order, decoded. */
function delivered(plan: DeliveryPlan): Map<number, string[]> {
  send(plan);
  const out = new Map<number, string[]>();
  for (const outgoing of plan.batches) {
    const values = readRecordsBatch(Reader.from(outgoing.batch.bytes)).records.map((r) =>
      r.value!.toString(),
    );
    out.set(outgoing.partition, [...(out.get(outgoing.partition) ?? []), ...values]);
  }
  return out;
}

describe('Kafka sink: records into per-partition batches', () => {
  test("no partition's batch exceeds what the topic accepts; every record once, in order per partition", () => {
    const encoder = new BatchEncoder('none', 1 << 20);
    const records = Array.from({ length: 500 }, (_, i) => record(i, 300));
    const topic = target(20_000);
    const plan = new DeliveryPlan(
      records,
      records.map(() => topic),
    );
    encoder.encode(plan);
    assert.ok(plan.batches.length > 6, 'a partition gets several batches');
    for (const outgoing of plan.batches) assert.ok(outgoing.batch.bytes.length <= 20_000);
    const all = [...delivered(plan).values()];
    assert.equal(all.flat().length, 500);
    for (const values of all) {
      const ids = values.map((v) => Number(v.split(':')[0]));
      assert.deepEqual(
        ids,
        [...ids].sort((a, b) => a - b),
        'in order',
      );
    }
    const sequences = plan.batches.filter((b) => b.partition === 0);
    let expected = 0;
    for (const outgoing of sequences) {
      const batch = readRecordsBatch(Reader.from(outgoing.batch.bytes));
      assert.equal(batch.firstSequence, expected, 'sequences follow on per partition');
      expected += batch.records.length;
    }
  });

  test('compressed batches stay under the limit too', () => {
    const encoder = new BatchEncoder('lz4', 1 << 20);
    const records = Array.from({ length: 300 }, (_, i) => record(i, 2000));
    const topic = target(50_000, 1);
    const plan = new DeliveryPlan(
      records,
      records.map(() => topic),
    );
    encoder.encode(plan);
    for (const outgoing of plan.batches) assert.ok(outgoing.batch.bytes.length <= 50_000);
    assert.equal([...delivered(plan).values()].flat().length, 300);
  });

  test('a record too large alone is marked with its size and left out; the rest are encoded', () => {
    const encoder = new BatchEncoder('none', 1 << 20);
    const records = [record(1), record(2, 30_000), record(3)];
    const topic = target(10_000, 1);
    const plan = new DeliveryPlan(
      records,
      records.map(() => topic),
    );
    encoder.encode(plan);
    assert.deepEqual([...plan.tooLarge.keys()], [1]);
    assert.ok(plan.tooLarge.get(1)! > 30_000);
    assert.deepEqual(
      [...delivered(plan).values()].flat().map((v) => v.split(':')[0]),
      ['1', '3'],
    );
    const [first, second] = plan.batches.map(
      (b) => readRecordsBatch(Reader.from(b.batch.bytes)).firstSequence,
    );
    assert.deepEqual([first, second], [0, 1], 'the record left out claimed no sequence');
  });

  test('unmapped records (no topic) are not encoded', () => {
    const encoder = new BatchEncoder('none', 1 << 20);
    const records = [record(1), record(2), record(3)];
    const topic = target(10_000, 1);
    const plan = new DeliveryPlan(records, [topic, undefined, topic]);
    encoder.encode(plan);
    assert.deepEqual(
      [...delivered(plan).values()].flat().map((v) => v.split(':')[0]),
      ['1', '3'],
    );
  });

  test('encoding again after a failure keeps the acknowledged batches and re-encodes only the rest', () => {
    const encoder = new BatchEncoder('none', 1 << 20);
    const records = Array.from({ length: 200 }, (_, i) => record(i, 300));
    const topic = target(15_000);
    const plan = new DeliveryPlan(
      records,
      records.map(() => topic),
    );
    encoder.encode(plan);
    send(plan);
    plan.batches.forEach((b, i) => (b.state = i % 2 === 0 ? 'acked' : 'failed'));
    const acked = plan.batches.filter((b) => b.state === 'acked').map((b) => b.batch.bytes);
    topic.limit = 5_000;
    encoder.encode(plan);
    assert.deepEqual(
      plan.batches.filter((b) => b.state === 'acked').map((b) => b.batch.bytes),
      acked,
      'the acknowledged batches, as they were',
    );
    for (const b of plan.batches) if (b.state === 'pending') assert.ok(b.batch.bytes.length <= 5_000);
    const values = [...delivered(plan).values()].flat();
    assert.equal(values.length, 200, 'every record once');
    assert.equal(new Set(values).size, 200);
  });

  test("change events carry pgrelay-source, -lsn and -id; a handler's header of the same name wins; raw messages keep theirs", () => {
    const encoder = new BatchEncoder('none', 1 << 20);
    const change = changeEvent({ source: 'db1', lsn: '0/1', id: '0/1:5' });
    const raw = rawEvent({ headers: { trace: [Buffer.from('a'), Buffer.from('b')] } });
    const records: SinkRecord[] = [
      { key: 'k', value: 'v', origin: change },
      { key: 'k', value: 'v', origin: change, headers: { 'pgrelay-source': 'renamed', tenant: 'acme' } },
      { key: 'k', value: 'v', origin: raw, headers: raw.headers },
    ];
    const topic = target(10_000, 1);
    const plan = new DeliveryPlan(
      records,
      records.map(() => topic),
    );
    encoder.encode(plan);
    send(plan);
    const decoded = readRecordsBatch(Reader.from(plan.batches[0]!.batch.bytes)).records.map((r) =>
      r.headers.map(([k, v]) => `${k!.toString()}=${v!.toString()}`),
    );
    assert.deepEqual(decoded, [
      ['pgrelay-source=db1', 'pgrelay-lsn=0/1', 'pgrelay-id=0/1:5'],
      ['pgrelay-lsn=0/1', 'pgrelay-id=0/1:5', 'pgrelay-source=renamed', 'tenant=acme'],
      ['trace=a', 'trace=b'],
    ]);
  });

  test('a value that is neither bytes nor text is a named error with the topic, event and key', () => {
    const encoder = new BatchEncoder('none', 1 << 20);
    const bad = { ...record(9), value: { a: 1 } } as unknown as SinkRecord;
    const plan = new DeliveryPlan([bad], [target(10_000)]);
    assert.throws(
      () => encoder.encode(plan),
      (error: Error & { code?: string }) =>
        error.code === 'PGRELAY_KAFKA_INVALID_RECORD' &&
        /record for topic cdc\.users on insert of public\.users \(id .*\), key \{"id":"9"\}: expected a string, a Buffer or null, got object/.test(
          error.message,
        ),
    );
  });
});
