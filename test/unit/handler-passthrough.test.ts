import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { type RawEvent, SOURCE_JSON } from '../../src/core/event.js';
import { createPassthrough } from '../../src/handlers/passthrough/handler.js';
import { parseJsonExact } from '../../src/core/json.js';
import { sampleEvent } from '../helpers/events.js';

const context = { sink: 'main', log: pino({ level: 'silent' }) };

describe('passthrough handler', () => {
  it('writes the event as JSON, keyed by its key as JSON', async () => {
    const event = sampleEvent({ columns: { id: '1', doc: parseJsonExact('{"n":12345678901234567890}') } });
    const [record] = await createPassthrough().process([event], context);
    assert.deepEqual(record, {
      key: '{"id":"1"}',
      value: JSON.stringify(event),
      origin: event,
    });
    assert.match(String((record as { value: string }).value), /"n":12345678901234567890/);
  });

  it('writes an event read from JSON as read only when no handler came before it', async () => {
    const event = sampleEvent();
    const read = Buffer.from(` ${JSON.stringify(event)}`);
    Object.defineProperty(event, SOURCE_JSON, { value: read });
    const [untouched] = await createPassthrough({ untouched: true }).process([event], context);
    assert.deepEqual(untouched, { key: '{"id":"1"}', value: read, origin: event });
    const [reencoded] = await createPassthrough().process([event], context);
    assert.equal(
      (reencoded as { value: unknown }).value,
      JSON.stringify(event),
      'after handlers: serialised',
    );
    const plain = sampleEvent();
    const [serialised] = await createPassthrough({ untouched: true }).process([plain], context);
    assert.equal(
      (serialised as { value: unknown }).value,
      JSON.stringify(plain),
      'no bytes read: serialised',
    );
  });

  it('sends events without a key with a null key', async () => {
    const event = sampleEvent({ key: null, action: 'truncate', columns: null });
    const [record] = await createPassthrough().process([event], context);
    assert.equal((record as { key: unknown }).key, null);
  });

  it('relays raw messages untouched: bytes, key and headers', async () => {
    const raw: RawEvent = {
      action: 'raw',
      source: 'edge',
      topic: 'in',
      partition: 0,
      offset: '7',
      key: Buffer.from([1, 2]),
      payload: Buffer.from([0xff, 0]),
      headers: { a: Buffer.from('x'), b: [Buffer.from('1'), Buffer.from('2')] },
      timestamp: '0',
    };
    const [record] = await createPassthrough().process([raw], context);
    assert.deepEqual(record, { key: raw.key, value: raw.payload, headers: raw.headers, origin: raw });
  });
});
