import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type SourceMessage, createDecoder } from '../../src/sources/kafka/decode.js';
import { type ChangeEvent, type RelayEvent, SOURCE_JSON, isRaw } from '../../src/core/event.js';
import { encodeEvent, encodeUntouchedEvent, keyJson } from '../../src/core/encoding.js';
import { stringifyExact } from '../../src/core/json.js';
import { ReadEvent, plainEvent } from '../../src/core/read-event.js';
import { sampleEvent, sourceMessage as message } from '../helpers/events.js';
import { seededRandom } from '../helpers/random.js';

/** What decoding gives, as a plain event, or the error's message. */
function outcome(decode: (m: SourceMessage) => RelayEvent, value: string | Buffer): unknown {
  try {
    const event = decode(message(value));
    assert.ok(!isRaw(event));
    return { ...plainEvent(event) };
  } catch (error) {
    return (error as Error).message;
  }
}

const variants: ChangeEvent[] = [
  sampleEvent(),
  sampleEvent({ schema: null, table: null, action: 'message', key: null, columns: null, xid: null }),
  sampleEvent({ commit_time: null, action: 'delete', columns: null, old: { id: '1', name: 'ann' } }),
  sampleEvent({ table: 'naïve "t"', source: 'db\\1', host: 'h\u00e9', database: '\u4e2d', id: '0/1:é' }),
  sampleEvent({ key: { id: 1, region: 'eu' }, unchanged_toast: ['doc', 'blob'], xid: 4294967295 }),
  sampleEvent({ columns: { doc: { nested: [1, 2.5, null, { a: 'b' }] }, big: -1.5e300, flag: true } }),
];

describe('complete pgrelay events are read without building their rows', () => {
  for (const format of ['pgrelay', 'auto'] as const) {
    test(`format ${format}: the same event as parsing, with the message's bytes kept`, () => {
      const decode = createDecoder(format, 'edge');
      for (const event of variants) {
        const bytes = Buffer.from(JSON.stringify(event));
        const read = decode(message(bytes));
        assert.ok(read instanceof ReadEvent, `${JSON.stringify(event)} took the parsing path`);
        assert.deepEqual(plainEvent(read), event);
        assert.equal(read[SOURCE_JSON], bytes);
        assert.equal(JSON.stringify(read), JSON.stringify(event));
        assert.equal(keyJson(read), keyJson(event));
        const key = keyJson(event);
        assert.deepEqual(encodeUntouchedEvent(read), {
          key: key === null ? null : Buffer.from(key),
          value: bytes,
          origin: read,
        });
        assert.equal(encodeEvent(read).value, stringifyExact(event));
      }
    });
  }

  test("a Kafka sink gets the key, id and LSN as the message's own bytes", () => {
    const event = sampleEvent({ id: '0/16B3748:2', lsn: '0/16B3748' });
    const bytes = Buffer.from(JSON.stringify(event));
    const read = createDecoder('pgrelay', 'edge')(message(bytes));
    assert.ok(read instanceof ReadEvent);
    assert.equal(read[SOURCE_JSON].toString('utf8', read.idStart, read.idEnd), event.id);
    assert.equal(read[SOURCE_JSON].toString('utf8', read.lsnStart, read.lsnEnd), event.lsn);
    assert.equal(read[SOURCE_JSON].buffer, bytes.buffer, 'the message read, not a copy');
    const key = read.keyBytes();
    assert.equal(key?.toString(), JSON.stringify(event.key));
    assert.equal(key?.buffer, bytes.buffer, 'the key: a copy, not a view of the message');
    const keyless = createDecoder('pgrelay', 'edge')(message(JSON.stringify({ ...event, key: null })));
    assert.ok(keyless instanceof ReadEvent);
    assert.equal(keyless.keyBytes(), null);
  });

  test('an id or LSN with an escape, or an LSN with spacing, decodes as the parsing decoder decodes it', () => {
    const decode = createDecoder('auto', 'edge');
    for (const change of [
      { id: '0/1:\n' },
      { id: '0/1:"a"' },
      { lsn: ' 0/16B3748' },
      { lsn: '0/16B3748 ' },
    ]) {
      const text = JSON.stringify(sampleEvent(change));
      const read = decode(message(text));
      assert.ok(!(read instanceof ReadEvent), text);
      assert.deepEqual(outcome(decode, text), outcome(decode, `${text}\n`), text);
      assert.deepEqual(plainEvent(read), JSON.parse(text));
    }
  });

  test('fields in another order are found, and the next event in order is read in order', () => {
    const decode = createDecoder('pgrelay', 'edge');
    const event = sampleEvent();
    const reversed = Object.fromEntries(Object.entries(sampleEvent({ table: 'reversed' })).reverse());
    for (const [text, expected] of [
      [JSON.stringify(reversed), { ...event, table: 'reversed' }],
      [JSON.stringify(event), event],
    ] as const) {
      const read = decode(message(text));
      assert.ok(read instanceof ReadEvent);
      assert.deepEqual(plainEvent(read), expected);
    }
  });

  test('a key written otherwise than JSON.stringify would is written as JSON.stringify would', () => {
    const decode = createDecoder('pgrelay', 'edge');
    for (const key of [
      '{ "id": 1 }',
      '{"id":1.50}',
      '{"id":"\\u0031"}',
      '{"b":1,"1":2}',
      '{"id":1,"id":2}',
    ]) {
      const text = JSON.stringify(sampleEvent()).replace('"key":{"id":"1"}', `"key":${key}`);
      const read = decode(message(text));
      assert.ok(read instanceof ReadEvent, key);
      assert.equal(keyJson(read), JSON.stringify(JSON.parse(key)), key);
    }
  });

  test('a message that is not a complete event as pgrelay writes it is left to the parsing decoder', () => {
    const decode = createDecoder('auto', 'edge');
    const { host: _host, ...incomplete } = sampleEvent();
    for (const text of [
      JSON.stringify(incomplete),
      JSON.stringify({ ...sampleEvent(), env: 'prod' }),
      JSON.stringify(sampleEvent()).replace('"xid":726', '"xid":12345678901234567890'),
      ` ${JSON.stringify(sampleEvent())}`,
      JSON.stringify({
        UUID: 'u',
        Table: 't',
        Action: 'INSERT',
        WALPosition: 1,
        Timestamp: '0001-01-01T00:00:00Z',
        Columns: {},
      }),
    ]) {
      let decoded: RelayEvent | undefined;
      try {
        decoded = decode(message(text));
      } catch {
        // Refused, as the parsing decoder refuses an xid a double cannot hold.
      }
      assert.ok(!(decoded instanceof ReadEvent), text);
    }
  });

  test('handlers get plain copies: a spread keeps every field, and changing one leaves the message alone', () => {
    const read = createDecoder('pgrelay', 'edge')(message(JSON.stringify(sampleEvent())));
    const copy = plainEvent(read) as ChangeEvent;
    assert.deepEqual({ ...copy }, sampleEvent());
    copy.columns!.name = 'bob';
    assert.equal((read as ChangeEvent).columns!.name, 'ann');
    assert.throws(() => {
      (read as ChangeEvent).columns = null;
    }, TypeError);
  });

  test('a field of another type decodes as the parsing decoder decodes it, or fails as it does', () => {
    const decode = createDecoder('auto', 'edge');
    const wrong: [keyof ChangeEvent, string][] = [
      ['id', '5'],
      ['source', 'null'],
      ['host', '1'],
      ['database', '{}'],
      ['schema', '1'],
      ['table', '[]'],
      ['action', '"upsert"'],
      ['lsn', '"x"'],
      ['xid', '"1"'],
      ['xid', 'true'],
      ['commit_time', '5'],
      ['key', '"k"'],
      ['columns', '"x"'],
      ['columns', '[]'],
      ['old', '1'],
      ['unchanged_toast', '[1]'],
      ['unchanged_toast', '"a"'],
    ];
    for (const [field, value] of wrong) {
      const event = { ...sampleEvent(), [field]: '\u0000' };
      const text = JSON.stringify(event).replace('"\\u0000"', value);
      const parsed = outcome(decode, `${text}\n`);
      const fast = outcome(decode, text);
      assert.deepEqual(fast, parsed, text);
    }
  });

  test('a changed event decodes as the parsing decoder decodes it, or fails with its error', () => {
    const decode = createDecoder('auto', 'edge');
    const next = seededRandom(21);
    const alphabet = [...'{}[]":,\\ 0123456789-.etrufalsn', '\u0001', 'x', 'é'];
    const original = JSON.stringify(variants[4]);
    let read = 0;
    for (let round = 0; round < 20_000; round++) {
      let text = original;
      const at = 1 + Math.floor(next() * (text.length - 2));
      const char = alphabet[Math.floor(next() * alphabet.length)]!;
      text =
        next() < 0.5 ? text.slice(0, at) + char + text.slice(at + 1) : text.slice(0, at) + text.slice(at + 1);
      // A trailing newline sends the same event down the parsing path. It can change the wording
      // of an error (a string left open now holds a control character), not whether there is one.
      const parsed = outcome(decode, `${text}\n`);
      const fast = outcome(decode, text);
      if (typeof parsed === 'string' || typeof fast === 'string')
        assert.equal(typeof fast, typeof parsed, text);
      else assert.deepEqual(fast, parsed, text);
      if (typeof fast === 'object' && decode(message(text)) instanceof ReadEvent) read++;
    }
    assert.ok(read > 1000, `only ${read} changed events decoded: the test checks too little`);
  });
});
