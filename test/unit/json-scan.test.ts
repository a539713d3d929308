import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { JsonObjectScanner, isCanonicalFlatObject } from '../../src/core/json-scan.js';
import { sampleEvent } from '../helpers/events.js';
import { seededRandom } from '../helpers/random.js';

function parses(bytes: Buffer): boolean {
  try {
    JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    return true;
  } catch {
    return false;
  }
}

/** The members the scanner found, each value parsed from its span. */
function scannedMembers(scanner: JsonObjectScanner, bytes: Buffer): [string, unknown][] {
  const members: [string, unknown][] = [];
  for (let member = 0; member < scanner.count; member++) {
    const value = bytes.toString('utf8', scanner.valueStart(member), scanner.valueEnd(member));
    assert.equal(
      scanner.valueEscaped(member),
      value.startsWith('"') && value.includes('\\'),
      `escape flag of ${value}`,
    );
    members.push([
      bytes.toString('utf8', scanner.nameStart(member), scanner.nameEnd(member)),
      JSON.parse(value),
    ]);
  }
  return members;
}

/** Asserts the scanner accepts `text` and finds the members JSON.parse finds, in order. */
function assertScansAsParsed(scanner: JsonObjectScanner, text: string): void {
  const bytes = Buffer.from(text);
  assert.ok(scanner.scan(bytes), text);
  assert.deepEqual(scannedMembers(scanner, bytes), Object.entries(JSON.parse(text) as object), text);
}

const event = JSON.stringify(
  sampleEvent({
    columns: {
      id: '1',
      note: 'tab\there "quoted" \\ \u00e9\u4e2d\ud83d\ude00',
      n: -12.5e-3,
      list: [1, [true, false, null], { deep: {} }],
      empty: '',
    },
    unchanged_toast: ['big'],
  }),
);

/** Bytes JSON cares about, and some it does not. */
const ALPHABET = [...'{}[]":,;\\ \t\n\r0123456789-+.eEtrufalsn/bu', '\u0000', '\u001f', '\u007f', 'é', 'x'];

describe('JsonObjectScanner', () => {
  test('finds every member of an event, each value whole', () => {
    assertScansAsParsed(new JsonObjectScanner(), event);
  });

  test('accepts spacing between tokens, empty objects and every kind of value', () => {
    const scanner = new JsonObjectScanner();
    for (const text of [
      '{}',
      '{ }',
      '{"a" : 1 ,\n"b":\t[ ]\r}',
      '{"a":{"b":{"c":[[],[{}]]}}}',
      '{"n":0,"m":-0.5E+10,"o":1e-7,"p":123456789012345678901234567890}',
      '{"s":"\\u00e9\\n\\/\\"","t":true,"f":false,"z":null}',
    ]) {
      assertScansAsParsed(scanner, text);
    }
  });

  test('refuses what JSON.parse refuses', () => {
    const scanner = new JsonObjectScanner();
    for (const text of [
      '{',
      '{"a":1',
      '{"a":1,}',
      '{"a" 1}',
      '{a:1}',
      "{'a':1}",
      '{"a":01}',
      '{"a":1.}',
      '{"a":.5}',
      '{"a":1e}',
      '{"a":+1}',
      '{"a":-}',
      '{"a":tru}',
      '{"a":nul}',
      '{"a":"\u0001"}',
      '{"a":"\\x"}',
      '{"a":"\\u12G4"}',
      '{"a":"x}',
      '{"a":[1,]}',
      '{"a":[1 2]}',
      '{"a":1}}',
      '{"a":1}{"b":2}',
      '{"a":NaN}',
      '{"a":1;"b":2}',
      '{"a":[1;2]}',
      '{"a":{]}',
      '{"a":[}}',
      '{"a":[1}}',
      '{"a":{"b":1]}',
      '{]',
    ]) {
      assert.equal(parses(Buffer.from(text)), false, `JSON.parse accepts ${text}`);
      assert.equal(scanner.scan(Buffer.from(text)), false, text);
    }
    const invalidUtf8 = Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
    assert.equal(scanner.scan(invalidUtf8), false);
  });

  test('declines what it leaves to JSON.parse: text around the object, escaped names, too many members', () => {
    const scanner = new JsonObjectScanner(2);
    for (const text of [
      ' {"a":1}',
      '{"a":1} ',
      '\ufeff{"a":1}',
      '{"\\u0061":1}',
      '{"a":1,"b":2,"c":3}',
      '[1]',
    ]) {
      assert.equal(scanner.scan(Buffer.from(text)), false, text);
    }
    assert.equal(
      new JsonObjectScanner().scan(Buffer.from(`{"a":${'['.repeat(200)}${']'.repeat(200)}}`)),
      false,
    );
  });

  test('never accepts a changed event JSON.parse refuses, and reads the ones it accepts as JSON.parse does', () => {
    const next = seededRandom(9);
    const scanner = new JsonObjectScanner();
    const original = Buffer.from(event);
    let accepted = 0;
    for (let round = 0; round < 20_000; round++) {
      let text = event;
      for (let edits = 1 + Math.floor(next() * 3); edits > 0; edits--) {
        // Keep the outer braces: without them the scanner declines before looking inside.
        const at = 1 + Math.floor(next() * (text.length - 2));
        const char = ALPHABET[Math.floor(next() * ALPHABET.length)]!;
        const kind = next();
        text =
          kind < 0.4
            ? text.slice(0, at) + char + text.slice(at + 1)
            : kind < 0.7
              ? text.slice(0, at) + char + text.slice(at)
              : text.slice(0, at) + text.slice(at + 1);
      }
      const bytes = Buffer.from(text);
      // Now and then a byte that is not UTF-8 at all.
      if (next() < 0.05) bytes[1 + Math.floor(next() * (bytes.length - 2))] = 0xff;
      const valid = parses(bytes);
      if (!scanner.scan(bytes)) continue;
      assert.ok(valid, `accepted what JSON.parse refuses: ${bytes.toString()}`);
      accepted++;
      const members = scannedMembers(scanner, bytes);
      if (new Set(members.map(([name]) => name)).size === members.length)
        assert.deepEqual(members, Object.entries(JSON.parse(bytes.toString()) as object));
    }
    assert.ok(accepted > 1000, `only ${accepted} changed events were valid JSON: the test checks too little`);
    assert.ok(scanner.scan(original));
  });
});

describe('isCanonicalFlatObject', () => {
  const canonical = (text: string) => isCanonicalFlatObject(Buffer.from(text), 0, Buffer.byteLength(text));

  test('says yes to a key as pgrelay writes it', () => {
    for (const text of [
      '{}',
      '{"id":"2"}',
      '{"id":42,"region":"eu","ok":true,"gone":null}',
      '{"a":-7,"b":0,"é":"ü"}',
    ]) {
      assert.ok(canonical(text), text);
      assert.equal(JSON.stringify(JSON.parse(text)), text);
    }
  });

  test('says no to anything JSON.stringify would write otherwise, or might', () => {
    for (const text of [
      '{"id": 1}',
      '{"id":"a\\u0062"}',
      '{"id":"a\\"b"}',
      '{"a":1,"a":2}',
      '{"b":1,"1":2}',
      '{"n":1.0}',
      '{"n":1e3}',
      '{"n":-0}',
      '{"n":1234567890123456}',
      '{"o":{"a":1}}',
      '{"l":[1]}',
    ])
      assert.equal(canonical(text), false, text);
  });

  test('whenever it says yes, the text is what JSON.stringify writes', () => {
    const next = seededRandom(4);
    const pick = <T>(list: T[]) => list[Math.floor(next() * list.length)]!;
    let yes = 0;
    for (let round = 0; round < 5000; round++) {
      const members = Array.from({ length: Math.floor(next() * 4) }, () => {
        const name = pick(['id', 'a', 'b', '1', '01', 'x y', 'é', '']);
        const value = pick([
          '"v"',
          '""',
          '0',
          '-3',
          '17',
          '1.5',
          '2e2',
          'true',
          'false',
          'null',
          '123456789012345',
        ]);
        return `"${name}":${value}`;
      });
      const text = `{${members.join(pick([',', ', ']))}}`;
      if (!canonical(text)) continue;
      yes++;
      assert.equal(JSON.stringify(JSON.parse(text)), text);
    }
    assert.ok(yes > 500, `only ${yes} texts were canonical: the test checks too little`);
  });
});
