import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ChangeEvent } from '../../src/core/event.js';
import type { SinkRecord } from '../../src/core/handler.js';
import { planRequests } from '../../src/sinks/kafka/requests.js';
import { changeEvent } from '../helpers/events.js';

function record(bytes: number, table = 'users'): SinkRecord {
  return { key: 'k', value: 'x'.repeat(bytes), origin: changeEvent({ table }) };
}

const routing = (unmapped: SinkRecord[] = []) => ({
  topicFor: (r: SinkRecord) =>
    r.origin?.action !== 'raw' && r.origin?.table === 'audit'
      ? undefined
      : `t.${r.origin?.action === 'raw' ? '' : r.origin?.table}`,
  unmapped: (r: SinkRecord) => unmapped.push(r),
});

describe('Kafka sink produce requests', () => {
  test('cut by real message bytes (with headers), in order, none over the limit', () => {
    const records = Array.from({ length: 50 }, () => record(900));
    const plan = planRequests(records, 10_000, routing());
    assert.ok(plan.requests.length > 1);
    const flat = plan.requests.flatMap((request) => request.flatMap((group) => group.records));
    assert.deepEqual(flat, records, 'every record once, in order');
    for (const request of plan.requests) {
      const bytes = request
        .flatMap((g) => g.messages)
        .reduce(
          (n, m) => n + (m.value as string).length + 1 + Object.values(m.headers ?? {}).join('').length,
          0,
        );
      assert.ok(bytes <= 10_000, `request of ${bytes} bytes`);
    }
    assert.equal(plan.bytes, 50 * 901);
    assert.equal(plan.next, 0);
  });

  test('a record larger than the limit goes alone', () => {
    const plan = planRequests([record(10), record(50_000), record(10)], 1000, routing());
    assert.deepEqual(
      plan.requests.map((r) => r.flatMap((g) => g.records.map((x) => (x.value as string).length))),
      [[10], [50_000], [10]],
    );
  });

  test('records are grouped by topic within a request; unmapped ones are reported and left out', () => {
    const unmapped: SinkRecord[] = [];
    const first = record(10, 'users');
    const plan = planRequests(
      [first, record(10, 'audit'), record(10, 'orders'), record(10, 'users')],
      1_000_000,
      routing(unmapped),
    );
    assert.equal(plan.requests.length, 1);
    assert.deepEqual(
      plan.requests[0]!.map((g) => [g.topic, g.records.length]),
      [
        ['t.users', 2],
        ['t.orders', 1],
      ],
    );
    assert.equal(unmapped.length, 1);
    const headers = plan.requests[0]![0]!.messages[0]!.headers!;
    assert.equal(
      headers['pgrelay-id'],
      (first.origin as ChangeEvent).id,
      'change events carry their id as a header',
    );
  });
});
