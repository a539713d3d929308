import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isRaw, routingName } from '../../src/core/event.js';
import { describeEvent, isEvent } from '../../src/core/handler.js';
import { changeEvent, rawEvent } from '../helpers/events.js';

describe('event model', () => {
  test('isRaw tells relayed Kafka messages from change events', () => {
    assert.equal(isRaw(rawEvent()), true);
    for (const action of ['insert', 'update', 'delete', 'truncate', 'message', 'snapshot'] as const) {
      assert.equal(isRaw(changeEvent({ action })), false, action);
    }
  });

  test('routingName is schema.table for changes, the table alone without a schema, the topic for raw', () => {
    assert.equal(routingName(changeEvent({ schema: 'sales', table: 'orders_2026' })), 'sales.orders_2026');
    assert.equal(routingName(changeEvent({ schema: null, table: 'orphan' })), 'orphan');
    assert.equal(routingName(changeEvent({ schema: null, table: null, action: 'message' })), '');
    assert.equal(routingName(rawEvent({ topic: 'edge.users' })), 'edge.users');
  });

  test('isEvent tells events from sink records', () => {
    assert.equal(isEvent(changeEvent()), true);
    assert.equal(isEvent(rawEvent()), true);
    assert.equal(isEvent({ key: null, value: '{}' }), false);
    assert.equal(isEvent({ key: null, value: '{}', origin: changeEvent() }), false);
  });

  test('describeEvent names what an error message needs to find the event', () => {
    const event = changeEvent({ id: '0/16B3748:3', action: 'update', schema: 'public', table: 'users' });
    assert.equal(describeEvent(event), ' on update of public.users (id 0/16B3748:3)');
    assert.equal(describeEvent(rawEvent({ topic: 't', partition: 1, offset: '99' })), ' on t[1]@99');
    assert.equal(describeEvent(undefined), '');
  });
});
