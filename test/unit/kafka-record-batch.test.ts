import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Reader, jsCRC32C, readRecordsBatch } from '@platformatic/kafka';
import { nextSequence } from '../../src/kafka/producer.js';
import {
  type Bytes,
  type Compression,
  RecordBatch,
  type RecordHeaders,
  addHeader,
  addHeaderPart,
  noHeaders,
  headerName,
  recordBound,
} from '../../src/kafka/record-batch.js';

interface Input {
  key: Buffer | null;
  value: Bytes;
  headers: [string, Bytes][];
}

function headersOf(input: Input): RecordHeaders {
  const headers = noHeaders();
  for (const [name, value] of input.headers) addHeader(headers, headerName(name), value);
  return headers;
}

function encode(inputs: Input[], compression: Compression = 'none', initial = 64): Buffer {
  const batch = new RecordBatch(Buffer.alloc(initial), 1_764_000_000_123);
  for (const input of inputs) {
    const headers = headersOf(input);
    const keyLength = input.key?.length ?? 0;
    batch.append(input.key, 0, keyLength, input.value, headers, recordBound(keyLength, input.value, headers));
  }
  batch.close(compression);
  batch.seal({ producerId: 4242n, producerEpoch: 3, baseSequence: 17 });
  return batch.bytes;
}

const text = (b: Buffer | null) => (b === null ? null : b.toString('utf8'));

test('a batch stamped as transactional carries the transactional attribute bit, in its checksum', () => {
  const sealed = (transactional: boolean) => {
    const batch = new RecordBatch(Buffer.alloc(256), 1_764_000_000_123);
    const headers = noHeaders();
    batch.append(Buffer.from('k'), 0, 1, 'v', headers, recordBound(1, 'v', headers));
    batch.close('gzip');
    batch.seal({ producerId: 7n, producerEpoch: 1, baseSequence: 0, transactional });
    return batch.bytes;
  };
  const bytes = sealed(true);
  const transactional = readRecordsBatch(Reader.from(bytes));
  assert.equal(transactional.attributes & 0x10, 0x10);
  assert.equal(transactional.attributes & 7, 1, 'the compression bits stay');
  assert.equal(transactional.crc, jsCRC32C(bytes.subarray(21)));
  assert.equal(readRecordsBatch(Reader.from(sealed(false))).attributes & 0x10, 0);
});

/** Record batches are read back by @platformatic/kafka's own decoder, written independently of ours. */
describe('record batch encoding', () => {
  const inputs: Input[] = [
    { key: Buffer.from('{"id":1}'), value: '{"a":1}', headers: [['pgrelay-source', 'db1']] },
    { key: null, value: null, headers: [] },
    {
      key: Buffer.from([0, 255, 128]),
      value: Buffer.from([1, 2, 3]),
      headers: [
        ['h', null],
        ['h', 'twice'],
      ],
    },
    { key: Buffer.alloc(0), value: 'é日本語😀'.repeat(30), headers: [['ünïcode', 'vålue']] },
    { key: Buffer.from('k'), value: 'x'.repeat(63), headers: [] },
    { key: Buffer.from('k'), value: 'y'.repeat(9000), headers: [] },
    { key: Buffer.from('k'), value: 'z'.repeat(1_100_000), headers: [['big', 'v'.repeat(70_000)]] },
  ];

  for (const compression of ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const) {
    test(`${compression}: every key, value and header (null, empty, binary, non-ASCII, long) reads back`, () => {
      const bytes = encode(inputs, compression);
      const batch = readRecordsBatch(Reader.from(bytes));
      assert.equal(batch.magic, 2);
      assert.equal(batch.attributes & 7, { none: 0, gzip: 1, snappy: 2, lz4: 3, zstd: 4 }[compression]);
      assert.equal(batch.length, bytes.length - 12);
      assert.equal(batch.crc, jsCRC32C(bytes.subarray(21)), 'CRC-32C of everything after the crc field');
      assert.deepEqual([batch.producerId, batch.producerEpoch, batch.firstSequence], [4242n, 3, 17]);
      assert.equal(batch.firstTimestamp, 1_764_000_000_123n);
      assert.equal(batch.lastOffsetDelta, inputs.length - 1);
      assert.equal(batch.records.length, inputs.length);
      batch.records.forEach((record, i) => {
        const input = inputs[i]!;
        assert.equal(record.offsetDelta, i);
        assert.equal(record.timestampDelta, 0n);
        assert.deepEqual(record.key, input.key);
        assert.deepEqual(
          record.value === null ? null : record.value,
          input.value === null ? null : Buffer.from(input.value),
        );
        assert.deepEqual(
          record.headers.map(([k, v]) => [text(k), text(v)]),
          input.headers.map(([k, v]) => [k, v === null ? null : Buffer.from(v).toString('utf8')]),
        );
      });
    });
  }

  test("a header given as part of a larger Buffer is that part's bytes, short or long", () => {
    const message = Buffer.from(`{"id":"0/16B3748:2","pad":"${'p'.repeat(100)}"}`);
    const long = message.indexOf('ppp');
    const headers = noHeaders();
    addHeaderPart(headers, headerName('pgrelay-id'), message, 7, 18);
    addHeaderPart(headers, headerName('long'), message, long, long + 100);
    const batch = new RecordBatch(Buffer.alloc(64), 0);
    batch.append(null, 0, 0, message, headers, recordBound(0, message, headers));
    batch.close('none');
    batch.seal({ producerId: 1n, producerEpoch: 0, baseSequence: 0 });
    const [record] = readRecordsBatch(Reader.from(batch.bytes)).records;
    assert.deepEqual(
      record!.headers.map(([k, v]) => [text(k), text(v)]),
      [
        ['pgrelay-id', '0/16B3748:2'],
        ['long', 'p'.repeat(100)],
      ],
    );
    assert.deepEqual(record!.value, message);
  });

  test('the record bound is never below the bytes a record takes', () => {
    for (const input of inputs) {
      const headers = headersOf(input);
      const size = encode([input]).length - 61;
      assert.ok(recordBound(input.key?.length ?? 0, input.value, headers) >= size);
    }
  });

  test('a value that is not a string, a Buffer or null is refused, naming what it is', () => {
    const headers = noHeaders();
    const batch = new RecordBatch(Buffer.alloc(1024), 0);
    const value = { a: 1 } as unknown as Bytes;
    assert.throws(
      () => batch.append(null, 0, 0, value, headers, 100),
      /expected a string, a Buffer or null, got object/,
    );
  });

  test('sequences wrap to 0 after 2^31-1, as the Java client counts them', () => {
    assert.equal(nextSequence(0, 10), 10);
    assert.equal(nextSequence(2147483640, 7), 2147483647);
    assert.equal(nextSequence(2147483640, 8), 0);
    assert.equal(nextSequence(2147483647, 1), 0);
    assert.equal(nextSequence(2147483600, 100), 52);
  });
});
