import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UndecodableMessageError, createDecoder, utcMicros } from '../../src/sources/kafka/decode.js';
import { type ChangeEvent, type RelayEvent, SOURCE_JSON, isRaw } from '../../src/core/event.js';
import { plainEvent } from '../../src/core/read-event.js';
import { sampleEvent, sourceMessage as message } from '../helpers/events.js';

function change(event: RelayEvent): ChangeEvent {
  assert.ok(!isRaw(event), 'expected a change event');
  return event;
}

function undecodable(decode: () => unknown, reason: RegExp): void {
  assert.throws(decode, (error: unknown) => {
    assert.ok(
      error instanceof UndecodableMessageError,
      `expected UndecodableMessageError, got ${String(error)}`,
    );
    assert.equal(error.code, 'PGRELAY_KAFKA_UNDECODABLE');
    assert.match(error.message, reason);
    return true;
  });
}

const psqlStreamer = {
  Host: 'db1',
  Database: 'test',
  Table: 'test',
  Action: 'INSERT',
  WALPosition: 418152976,
  Timestamp: '2018-07-03T16:04:27.263625156+02:00',
  UUID: '0b9cc1f4-1c2e-4a5f-9a51-2b1f2fb4c7a0',
  Columns: { a: 369223, b: 'a' },
};

describe('kafka source decoding', () => {
  describe('format "pgrelay"', () => {
    const decode = createDecoder('pgrelay', 'edge');

    it('reads a pgrelay event as it was written', () => {
      const event = sampleEvent();
      assert.deepEqual(plainEvent(decode(message(JSON.stringify(event)))), event);
    });

    it('keeps fields an upstream handler added, and numbers a double cannot hold', () => {
      const text = JSON.stringify(sampleEvent({ columns: { id: '1' } }))
        .replace('"columns":{"id":"1"}', '"columns":{"id":"1","doc":{"n":12345678901234567890}}')
        .replace(/}$/, ',"env":"prod"}');
      const decoded = decode(message(text));
      assert.equal((decoded as unknown as { env: string }).env, 'prod');
      assert.equal(JSON.stringify(decoded), text);
    });

    it('fills optional fields and names the source when the event does not', () => {
      const {
        source: _s,
        host: _h,
        database: _d,
        xid: _x,
        commit_time: _c,
        key: _k,
        old: _o,
        unchanged_toast: _u,
        ...rest
      } = sampleEvent();
      assert.deepEqual(decode(message(JSON.stringify(rest))), {
        ...rest,
        source: 'edge',
        host: '',
        database: '',
        xid: null,
        commit_time: null,
        key: null,
        old: null,
        unchanged_toast: [],
      });
    });

    it('keeps the bytes of an event that needed no completing, out of sight of copies and comparisons', () => {
      const value = Buffer.from(JSON.stringify(sampleEvent()));
      const event = change(decode(message(value)));
      assert.equal(event[SOURCE_JSON], value, 'the message value itself');
      assert.equal(JSON.stringify(event), value.toString());
      const copy = plainEvent(event);
      assert.deepEqual(Object.keys(copy), Object.keys(sampleEvent()));
      assert.equal(change(copy)[SOURCE_JSON], undefined);
    });

    it('keeps no bytes when reading completed the event or the text holds more than the object', () => {
      const { host: _h, ...noHost } = sampleEvent();
      const { unchanged_toast: _u, ...noToast } = sampleEvent();
      for (const text of [
        JSON.stringify(noHost),
        JSON.stringify(noToast),
        JSON.stringify(sampleEvent({ database: null as unknown as string })),
        ` ${JSON.stringify(sampleEvent())}`,
        `${JSON.stringify(sampleEvent())}\n`,
        `\ufeff${JSON.stringify(sampleEvent())}`,
      ]) {
        assert.equal(change(decode(message(text)))[SOURCE_JSON], undefined, text);
      }
    });

    it('names the missing or mistyped field', () => {
      const { lsn: _lsn, ...noLsn } = sampleEvent();
      undecodable(() => decode(message(JSON.stringify(noLsn))), /missing field "lsn"/);
      undecodable(() => decode(message(JSON.stringify(sampleEvent({ lsn: '12' })))), /"lsn" is not X\/Y/);
      undecodable(
        () => decode(message(JSON.stringify({ ...sampleEvent(), action: 'upsert' }))),
        /field "action" is not one of insert, update/,
      );
      undecodable(
        () => decode(message(JSON.stringify({ ...sampleEvent(), columns: [1] }))),
        /"columns" is not an object/,
      );
      undecodable(
        () => decode(message(JSON.stringify({ ...sampleEvent(), xid: '7' }))),
        /"xid" is not a number/,
      );
    });

    it('refuses what is not a JSON object', () => {
      undecodable(() => decode(message('not json')), /not JSON/);
      undecodable(() => decode(message('[1,2]')), /not an object/);
      undecodable(() => decode(message(null)), /empty message/);
      undecodable(() => decode(message(Buffer.from([0x7b, 0xff, 0x7d]))), /not valid UTF-8/);
    });

    it('does not take a psql-streamer event for a pgrelay one', () => {
      undecodable(
        () => decode(message(JSON.stringify(psqlStreamer))),
        /not a pgrelay event: missing field "id"/,
      );
    });
  });

  describe('format "psql-streamer"', () => {
    const decode = createDecoder('psql-streamer', 'edge');

    it('maps the event to pgrelay fields: UUID as id, WALPosition as LSN, Timestamp in UTC', () => {
      assert.deepEqual(decode(message(JSON.stringify(psqlStreamer))), {
        id: psqlStreamer.UUID,
        source: 'edge',
        host: 'db1',
        database: 'test',
        schema: null,
        table: 'test',
        action: 'insert',
        lsn: '0/18EC8210',
        xid: null,
        commit_time: '2018-07-03T14:04:27.263625Z',
        key: null,
        columns: { a: 369223, b: 'a' },
        old: null,
        unchanged_toast: [],
      });
    });

    it('puts a delete’s columns in old, and takes a JSON-object message key as the row key', () => {
      const decoded = change(
        decode(
          message(JSON.stringify({ ...psqlStreamer, Action: 'delete', Columns: { a: 1 } }), {
            key: Buffer.from('{"a":1}'),
          }),
        ),
      );
      assert.deepEqual(
        [decoded.action, decoded.columns, decoded.old, decoded.key],
        ['delete', null, { a: 1 }, { a: 1 }],
      );
      const keyed = change(
        decode(message(JSON.stringify(psqlStreamer), { key: Buffer.from('db1:test:test:insert') })),
      );
      assert.equal(keyed.key, null);
    });

    it("reads Go's zero time, psql-streamer's Timestamp of an event without one, as no commit time", () => {
      const decoded = change(
        decode(message(JSON.stringify({ ...psqlStreamer, Timestamp: '0001-01-01T00:00:00Z' }))),
      );
      assert.equal(decoded.commit_time, null);
    });

    it('requires UUID, as psql-streamer does, and a usable WALPosition and Timestamp', () => {
      const { UUID: _uuid, ...noUuid } = psqlStreamer;
      undecodable(
        () => decode(message(JSON.stringify(noUuid))),
        /not a psql-streamer event: missing field "UUID"/,
      );
      undecodable(
        () => decode(message(JSON.stringify({ ...psqlStreamer, WALPosition: -1 }))),
        /"WALPosition" is not a non-negative integer/,
      );
      undecodable(
        () => decode(message(JSON.stringify({ ...psqlStreamer, Timestamp: 'yesterday' }))),
        /"Timestamp" is not an RFC 3339 time/,
      );
    });
  });

  describe('format "auto"', () => {
    const decode = createDecoder('auto', 'edge');

    it('tells pgrelay and psql-streamer events apart', () => {
      assert.equal(decode(message(JSON.stringify(sampleEvent()))).source, 'db1');
      assert.equal(decode(message(JSON.stringify(psqlStreamer))).source, 'edge');
    });

    it('names what is wrong with an event of either shape', () => {
      undecodable(() => decode(message('{"hello":"world"}')), /not a pgrelay event: missing field "id"/);
      undecodable(() => decode(message('{"UUID":"x"}')), /not a psql-streamer event: missing field "Table"/);
    });
  });

  describe('format "raw"', () => {
    const decode = createDecoder('raw', 'edge');

    it('passes key, value and headers (repeated and null ones too) as bytes, whatever they hold', () => {
      const value = Buffer.from([0, 1, 2, 0xff]);
      const decoded = decode(
        message(value, {
          key: Buffer.from('k'),
          headers: [
            ['trace', Buffer.from('t1')],
            ['tag', Buffer.from('a')],
            ['empty', null],
            ['tag', Buffer.from('b')],
            ['tag', null],
          ],
        }),
      );
      assert.deepEqual(decoded, {
        action: 'raw',
        source: 'edge',
        topic: 'cdc.users',
        partition: 2,
        offset: '41',
        key: Buffer.from('k'),
        payload: value,
        headers: {
          trace: Buffer.from('t1'),
          tag: [Buffer.from('a'), Buffer.from('b'), null],
          empty: null,
        },
        timestamp: '1795285136000',
      });
    });

    it('relays tombstones (no value) as they are', () => {
      const decoded = decode(message(null, { key: Buffer.from('k') }));
      assert.ok(isRaw(decoded));
      assert.equal(decoded.payload, null);
    });
  });

  describe('utcMicros', () => {
    it('converts RFC 3339 times to UTC with six fractional digits', () => {
      assert.equal(utcMicros('2018-07-03T16:04:27.263625156+02:00'), '2018-07-03T14:04:27.263625Z');
      assert.equal(utcMicros('2018-07-03T23:30:00-01:30'), '2018-07-04T01:00:00.000000Z');
      assert.equal(utcMicros('2026-11-21T18:12:05.9Z'), '2026-11-21T18:12:05.900000Z');
    });

    it('refuses what is not a time', () => {
      assert.equal(utcMicros('2026-02-30T00:00:00Z'), undefined);
      assert.equal(utcMicros('2026-11-21 18:12'), undefined);
      assert.equal(utcMicros('1795285136'), undefined);
    });
  });
});
