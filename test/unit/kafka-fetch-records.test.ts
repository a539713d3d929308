import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CorruptRecordBatchError, RecordReader, scanBatches } from '../../src/kafka/fetch-records.js';
import {
  type FetchedRecordsCase,
  abortedTransactions,
  fetchedBytes,
  fetchedRecords,
} from '../fixtures/fetched-records.js';

const ORIGIN = { topic: 'captured', partition: 0 };
const { cases } = fetchedRecords();

function fixture(name: string): FetchedRecordsCase {
  const found = cases[name];
  assert.ok(found, `fixture case ${name}`);
  return found;
}

/** Every record the reader yields, as kcat prints them (text, null kept). */
function readAll(reader: RecordReader): FetchedRecordsCase['expected'] {
  const read: FetchedRecordsCase['expected'] = [];
  while (reader.next()) {
    read.push({
      offset: reader.offset,
      key: reader.key()?.toString('utf8') ?? null,
      value: reader.value()?.toString('utf8') ?? null,
      headers: reader.headers().map(([name, value]) => [name, value?.toString('utf8') ?? '']),
    });
  }
  return read;
}

describe('fetched record batches, read lazily', () => {
  for (const name of ['plain', 'gzip', 'snappy', 'lz4', 'zstd', 'transactions']) {
    it(`reads what kcat reads: ${name} (${fixture(name).description})`, () => {
      const captured = fixture(name);
      const reader = new RecordReader(fetchedBytes(captured), ORIGIN, abortedTransactions(captured));
      assert.deepEqual(readAll(reader), captured.expected);
      assert.equal(
        reader.nextOffset,
        captured.fetched.highWatermark,
        'the next fetch starts after the last batch',
      );
      assert.equal(reader.incompleteBatchBytes, 0);
    });
  }

  it('keeps repeated header names, null keys and null values apart from empty ones', () => {
    const reader = new RecordReader(fetchedBytes(fixture('plain')), ORIGIN);
    assert.ok(reader.next());
    assert.deepEqual(
      reader.headers().map(([name, value]) => [name, value?.toString()]),
      [
        ['trace', 'abc'],
        ['tag', 'first'],
        ['tag', 'second'],
      ],
    );
    assert.ok(reader.next());
    assert.equal(reader.key(), null);
    assert.ok(reader.next());
    assert.equal(reader.value(), null);
    assert.equal(reader.size, 'null value'.length);
    assert.ok(reader.next());
    assert.deepEqual(reader.headers(), []);
  });

  it('gives produce timestamps in ms since epoch', () => {
    const reader = new RecordReader(fetchedBytes(fixture('zstd')), ORIGIN);
    assert.ok(reader.next());
    const captured = Date.parse('2026-01-01T00:00:00Z');
    assert.ok(reader.timestamp > captured - 365 * 86_400_000 && reader.timestamp < Date.now() + 60_000);
  });

  it('drops aborted transactions only when the fetch lists them, and skips control batches always', () => {
    const captured = fixture('transactions');
    const reader = new RecordReader(fetchedBytes(captured), ORIGIN, []);
    assert.deepEqual(
      readAll(reader).map((r) => [r.offset, r.value]),
      [
        [0, 'committed 1'],
        [1, 'committed 2'],
        [3, 'aborted 1'],
        [4, 'aborted 2'],
        [6, 'after the transactions'],
      ],
    );
  });

  it('stops before a batch cut short by the fetch size, and says how large it is', () => {
    const bytes = fetchedBytes(fixture('plain'));
    let lastBatch = 0;
    while (lastBatch + 12 + bytes.readInt32BE(lastBatch + 8) < bytes.length) {
      lastBatch += 12 + bytes.readInt32BE(lastBatch + 8);
    }
    const reader = new RecordReader(bytes.subarray(0, lastBatch + 40), ORIGIN);
    const lastBase = Number(bytes.readBigInt64BE(lastBatch));
    assert.deepEqual(
      readAll(reader).map((r) => r.offset),
      fixture('plain')
        .expected.map((r) => r.offset)
        .filter((offset) => offset < lastBase),
    );
    assert.equal(reader.nextOffset, lastBase);
    assert.equal(reader.incompleteBatchBytes, bytes.length - lastBatch);
  });

  it('refuses a damaged batch with a named error naming topic, partition and offset', () => {
    const bytes = Buffer.from(fetchedBytes(fixture('plain')));
    const firstBatch = 12 + bytes.readInt32BE(8);
    bytes[firstBatch - 3]! ^= 0xff; // inside the first batch's last record
    const reader = new RecordReader(bytes, { topic: 'orders', partition: 3 });
    assert.throws(
      () => reader.next(),
      (error: unknown) =>
        error instanceof CorruptRecordBatchError &&
        error.code === 'PGRELAY_KAFKA_CORRUPT_BATCH' &&
        /^orders\[3\]@0: record batch CRC-32C mismatch/.test(error.message),
    );
  });

  it('refuses a compressed batch that does not inflate, naming where it is', () => {
    const bytes = Buffer.from(fetchedBytes(fixture('gzip')));
    bytes.fill(0x55, 70, 90); // the gzip stream, past the batch header
    // The CRC has to match for the codec to be reached: recompute it as a broker would have.
    const end = 12 + bytes.readInt32BE(8);
    bytes.writeUInt32BE(crc32cOf(bytes.subarray(21, end)), 17);
    assert.throws(
      () => new RecordReader(bytes, { topic: 'orders', partition: 1 }).next(),
      (error: unknown) =>
        error instanceof CorruptRecordBatchError &&
        /^orders\[1\]@0: compressed batch \(codec 1\) does not decompress/.test(error.message),
    );
  });
});

function crc32cOf(bytes: Buffer): number {
  let crc = -1;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return ~crc >>> 0;
}

describe('scanning fetched bytes for the next fetch', () => {
  it('finds the offset after the last complete batch, and the size of a batch cut short', () => {
    const bytes = fetchedBytes(fixture('transactions'));
    assert.deepEqual(scanBatches(bytes), { nextOffset: 7, incompleteBatchBytes: 0 });
    const last = bytes.length - 91;
    assert.deepEqual(scanBatches(bytes.subarray(0, last + 70)), { nextOffset: 6, incompleteBatchBytes: 91 });
    assert.deepEqual(scanBatches(bytes.subarray(0, 30)), { nextOffset: -1, incompleteBatchBytes: 99 });
  });
});
