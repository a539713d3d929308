import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encodeEvent } from '../../src/core/encoding.js';
import { JsonText, stringifyExact } from '../../src/core/json.js';
import { sampleEvent } from '../helpers/events.js';

describe('json values kept as PostgreSQL stored them', () => {
  test('stringifyExact writes a JsonText verbatim, wherever it sits', () => {
    const doc = new JsonText('{"a": 1, "a": 2}');
    const value = { doc, list: [new JsonText('[1,  2]'), 'x'], nested: { again: doc }, nul: 'a\u0000b' };
    assert.equal(
      stringifyExact(value),
      '{"doc":{"a": 1, "a": 2},"list":[[1,  2],"x"],"nested":{"again":{"a": 1, "a": 2}},"nul":"a\\u0000b"}',
    );
  });

  test('JSON.stringify (a user handler) and `value` get the parsed value', () => {
    const doc = new JsonText('{"a": 1, "a": 2, "n": 12345678901234567890}');
    assert.equal(JSON.stringify({ doc }), '{"doc":{"a":2,"n":12345678901234567890}}');
    assert.deepEqual(Object.keys(doc.value as object), ['a', 'n']);
  });

  test('the event encoding keeps it, in the value and in the key', () => {
    const event = sampleEvent({ key: { id: 1 }, columns: { id: 1, doc: new JsonText('{"b":1,"b":2}') } });
    const record = encodeEvent(event);
    assert.match(String(record.value), /"doc":\{"b":1,"b":2\}/);
    assert.equal(record.key, '{"id":1}');
  });
});
