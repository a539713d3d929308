import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TopicRouter } from '../../src/sinks/kafka/topics.js';
import { changeEvent, rawEvent } from '../helpers/events.js';

describe('Kafka sink: topic for a record', () => {
  const router = new TopicRouter(
    { 'public.users': 'users', 'cdc.in': 'relayed' },
    { '^public\\.orders_\\d+$': 'orders' },
    'rest',
  );
  const topic = (origin: Parameters<typeof changeEvent>[0] | 'raw', explicit?: string) =>
    router.topicFor({
      key: null,
      value: null,
      topic: explicit,
      origin: origin === 'raw' ? rawEvent({ topic: 'cdc.in' }) : changeEvent(origin),
    });

  test('topic_map, then topic_routes, then topic_fallback, also when the tables alternate or repeat', () => {
    const order = [
      { schema: 'public', table: 'users' },
      { schema: 'public', table: 'users' },
      { schema: 'public', table: 'orders_2024' },
      { schema: 'public', table: 'orders_2024' },
      { schema: 'public', table: 'users' },
      { schema: 'public', table: 'audit' },
      { schema: null, table: null },
      { schema: 'public', table: 'users' },
    ];
    assert.deepEqual(
      order.map((o) => topic(o)),
      ['users', 'users', 'orders', 'orders', 'users', 'rest', 'rest', 'users'],
    );
  });

  test("a record's own topic wins; a relayed message routes by its source topic", () => {
    assert.equal(topic({ schema: 'public', table: 'users' }, 'mine'), 'mine');
    assert.equal(topic('raw'), 'relayed');
    assert.equal(router.topicFor({ key: null, value: null }), 'rest');
  });

  test('without a fallback an unmatched table has no topic', () => {
    const strict = new TopicRouter({ 'public.users': 'users' }, {}, undefined);
    const route = (table: string) =>
      strict.topicFor({ key: null, value: null, origin: changeEvent({ table }) });
    assert.deepEqual(
      [route('users'), route('audit'), route('audit'), route('users')],
      ['users', undefined, undefined, 'users'],
    );
  });
});
