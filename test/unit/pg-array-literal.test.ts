import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseJsonExact } from '../../src/core/json.js';
import { type Converter, isoTimestamp, parseArray } from '../../src/sources/postgres/schema/values.js';

// The literals are PostgreSQL 15's text output of the arrays named beside them (SELECT (...)::text).

const text: Converter = (value) => value;
const integer: Converter = (value) => Number(value);

describe('an array in PostgreSQL’s text output', () => {
  it('is a JSON array of its converted elements, NULL as null', () => {
    // '{1,2,NULL}'::int[]
    assert.deepEqual(parseArray('{1,2,NULL}', integer), [1, 2, null]);
    // ARRAY[true, false, NULL]
    assert.deepEqual(
      parseArray('{t,f,NULL}', (value) => value === 't'),
      [true, false, null],
    );
  });

  it('nests as deep as its dimensions', () => {
    // '{{1,2},{3,4}}'::int[]
    assert.deepEqual(parseArray('{{1,2},{3,4}}', integer), [
      [1, 2],
      [3, 4],
    ]);
    // '{{{1},{2}},{{3},{4}}}'::int[]
    assert.deepEqual(parseArray('{{{1},{2}},{{3},{4}}}', integer), [
      [[1], [2]],
      [[3], [4]],
    ]);
  });

  it('is empty as {}', () => {
    assert.deepEqual(parseArray('{}', integer), []);
  });

  it('drops the dimension decoration of arrays not starting at 1', () => {
    // '[0:1]={7,8}'::int[]
    assert.deepEqual(parseArray('[0:1]={7,8}', integer), [7, 8]);
    // '[-1:0][1:2]={{1,2},{3,4}}'::int[]
    assert.deepEqual(parseArray('[-1:0][1:2]={{1,2},{3,4}}', integer), [
      [1, 2],
      [3, 4],
    ]);
  });

  it('unquotes quoted elements, undoing backslash escapes; a quoted "NULL" is text', () => {
    // ARRAY['NULL', NULL, 'null', 'a b', 'x"y', 'back\slash', '', '{}', 'a,b', ' pad ', 'ünï']::text[]
    assert.deepEqual(
      parseArray(String.raw`{"NULL",NULL,"null","a b","x\"y","back\\slash","","{}","a,b"," pad ",ünï}`, text),
      ['NULL', null, 'null', 'a b', 'x"y', String.raw`back\slash`, '', '{}', 'a,b', ' pad ', 'ünï'],
    );
  });

  it('hands quoted elements to the element converter too', () => {
    // ARRAY['2024-01-02 03:04:05.5+00'::timestamptz, NULL]
    assert.deepEqual(
      parseArray('{"2024-01-02 03:04:05.5+00",NULL}', (value) => isoTimestamp(value, true)),
      ['2024-01-02T03:04:05.500000Z', null],
    );
    // ARRAY['{"a": [1, 2]}'::jsonb, 'null'::jsonb]: the JSON null is an element, not a NULL
    assert.deepEqual(parseArray(String.raw`{"{\"a\": [1, 2]}","null"}`, parseJsonExact), [
      { a: [1, 2] },
      null,
    ]);
  });

  it('splits at the element type’s delimiter: box uses ";" because its text holds commas', () => {
    // ARRAY[box '((1,1),(0,0))', box '((3,3),(2,2))']
    assert.deepEqual(parseArray('{(1,1),(0,0);(3,3),(2,2)}', text, ';'), ['(1,1),(0,0)', '(3,3),(2,2)']);
    // ARRAY[ARRAY[box '((1,1),(0,0))'], ARRAY[NULL::box]]
    assert.deepEqual(parseArray('{{(1,1),(0,0)};{NULL}}', text, ';'), [['(1,1),(0,0)'], [null]]);
  });

  it('that is malformed is an error quoting the literal', () => {
    for (const literal of ['', '1,2', '{1,2', '{{1,2}', '{"open', '{"a"b}', '[0:1]{7,8}', '(1,1),(0,0)']) {
      assert.throws(
        () => parseArray(literal, text),
        (error: unknown) => error instanceof Error && error.message === `malformed array literal: ${literal}`,
        JSON.stringify(literal),
      );
    }
  });
});
