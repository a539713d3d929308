import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encodeEvent } from '../../src/core/encoding.js';
import { deadLetterRecord } from '../../src/kafka/dead-letter.js';
import { eventCoordinates } from '../../src/sinks/kafka/dead-letters.js';
import { BatchEncoder, DeliveryPlan } from '../../src/sinks/kafka/requests.js';
import { changeEvent, rawEvent } from '../helpers/events.js';

/** The batch a dead letter makes on its own: what the broker compares with max.message.bytes. */
function batchSize(record: ReturnType<typeof deadLetterRecord>, limit: number): number {
  const encoder = new BatchEncoder('none', 0);
  const plan = new DeliveryPlan([record], [{ name: 'dlq', partitions: 1, limit, sticky: 0 }]);
  encoder.encode(plan);
  assert.equal(plan.tooLarge.size, 0, 'never too large');
  return plan.batches[0]!.batch.bytes.length;
}

describe('Kafka sink dead letters', () => {
  const event = changeEvent({ schema: 'public', table: 'notes', lsn: '0/AB', id: '0/AB:3', source: 'db' });
  const headers = { 'pgrelay-error': 'too large', ...eventCoordinates(event) };

  test("a dead letter larger than the topic accepts is cut to fit, and says the value's original size", () => {
    const record = { ...encodeEvent(event), value: 'é'.repeat(40_000) };
    const letter = deadLetterRecord({ record, headers }, 'dlq', 10_000);
    assert.equal(letter.topic, 'dlq');
    assert.equal(letter.key, record.key, 'the key is kept');
    assert.equal(letter.headers!['pgrelay-truncated'], '80000');
    assert.equal(letter.headers!['pgrelay-error'], 'too large');
    assert.ok(batchSize(letter, 10_000) <= 10_000);
    assert.ok((letter.value as Buffer).length > 8_000, 'as much of the value as fits');
    assert.deepEqual(
      letter.value,
      Buffer.from(record.value).subarray(0, (letter.value as Buffer).length),
      'the beginning of the value',
    );
  });

  test('a key that would leave no room is cut as well', () => {
    const record = { key: 'k'.repeat(50_000), value: 'v'.repeat(50_000), origin: event };
    const letter = deadLetterRecord({ record, headers }, 'dlq', 10_000);
    assert.equal(letter.headers!['pgrelay-key-truncated'], '50000');
    assert.equal(letter.headers!['pgrelay-truncated'], '50000');
    assert.ok(batchSize(letter, 10_000) <= 10_000);
  });

  test('a dead letter that fits is written as it is', () => {
    const record = encodeEvent(event);
    const letter = deadLetterRecord({ record, headers }, 'dlq', 1_000_000);
    assert.equal(letter.value, record.value);
    assert.equal(letter.headers!['pgrelay-truncated'], undefined);
  });

  test("coordinates: a change's source, LSN, id and table; a relayed message's topic, partition and offset", () => {
    assert.deepEqual(eventCoordinates(event), {
      'pgrelay-source': 'db',
      'pgrelay-lsn': '0/AB',
      'pgrelay-id': '0/AB:3',
      'pgrelay-table': 'public.notes',
    });
    assert.deepEqual(
      eventCoordinates(rawEvent({ source: 'edge', topic: 'in', partition: 2, offset: '41' })),
      {
        'pgrelay-source': 'edge',
        'pgrelay-source-topic': 'in',
        'pgrelay-source-partition': '2',
        'pgrelay-source-offset': '41',
      },
    );
  });
});
