import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { Reader, readRecordsBatch } from '@platformatic/kafka';
import { keyPartition, murmur2 } from '../../src/kafka/murmur2.js';
import { BatchStamper } from '../../src/kafka/producer.js';
import { BatchEncoder, DeliveryPlan, type TopicTarget } from '../../src/sinks/kafka/requests.js';
import { ROOT } from '../harness/pgrelay.js';

/** Keys and what the Java client (kafka-clients 3.9.2) computes for them: test/fixtures/murmur2/JavaMurmur2.java. */
const FIXTURE = JSON.parse(
  fs.readFileSync(path.join(ROOT, 'test/fixtures/murmur2/java-partitions.json'), 'utf8'),
) as { partitionCounts: number[]; keys: { base64: string; murmur2: number; partitions: number[] }[] };

describe("keys land where the Java client's default partitioner puts them", () => {
  test(`murmur2 of ${FIXTURE.keys.length} keys (JSON, every tail length, empty, non-ASCII, raw bytes) as Java computes it`, () => {
    for (const { base64, murmur2: expected, partitions } of FIXTURE.keys) {
      const key = Buffer.from(base64, 'base64');
      assert.equal(murmur2(key), expected, `murmur2 of ${base64}`);
      FIXTURE.partitionCounts.forEach((count, i) =>
        assert.equal(
          keyPartition(key, 0, key.length, count),
          partitions[i],
          `${base64} over ${count} partitions`,
        ),
      );
    }
  });

  test('the sink puts string keys (as UTF-8) and Buffer keys on those partitions', () => {
    const encoder = new BatchEncoder('none', 1 << 20);
    const keys = FIXTURE.keys.map((k) => Buffer.from(k.base64, 'base64'));
    const asText = keys.map((k) =>
      Buffer.from(k.toString('utf8'), 'utf8').equals(k) ? k.toString('utf8') : k,
    );
    const records = asText.map((key, i) => ({ key, value: String(i) }));
    FIXTURE.partitionCounts.forEach((count, c) => {
      const target: TopicTarget = { name: 't', partitions: count, limit: 1 << 20, sticky: 0 };
      const plan = new DeliveryPlan(
        records,
        records.map(() => target),
      );
      encoder.encode(plan);
      new BatchStamper(false).seal(plan.batches);
      const partitionOf = new Map<string, number>();
      for (const outgoing of plan.batches) {
        for (const record of readRecordsBatch(Reader.from(outgoing.batch.bytes)).records)
          partitionOf.set(record.value!.toString(), outgoing.partition);
      }
      FIXTURE.keys.forEach((key, i) =>
        assert.equal(partitionOf.get(String(i)), key.partitions[c], `${key.base64} over ${count} partitions`),
      );
      encoder.release(plan);
    });
  });

  test('records without a key are spread over the partitions, a batch at a time, not all on partition 0', () => {
    const encoder = new BatchEncoder('none', 1 << 20);
    const target: TopicTarget = { name: 't', partitions: 4, limit: 10_000, sticky: 0 };
    const records = Array.from({ length: 400 }, (_, i) => ({ key: null, value: `${i}`.padStart(100, '.') }));
    const plan = new DeliveryPlan(
      records,
      records.map(() => target),
    );
    encoder.encode(plan);
    const used = new Set(plan.batches.map((b) => b.partition));
    assert.deepEqual([...used].sort(), [0, 1, 2, 3]);
    for (const outgoing of plan.batches)
      assert.ok(outgoing.batch.count > 1, 'records stick together per batch');
    const next = new DeliveryPlan(records.slice(0, 1), [target]);
    encoder.encode(next);
    const another = new DeliveryPlan(records.slice(0, 1), [target]);
    encoder.encode(another);
    assert.notEqual(next.batches[0]!.partition, another.batches[0]!.partition, 'each delivery moves on');
  });
});
