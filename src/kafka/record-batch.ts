/**
 * Kafka record batches (magic 2), written from the protocol specification
 * (https://kafka.apache.org/documentation/#recordbatch) straight into one Buffer: records are
 * appended from strings and Buffers without an intermediate object or Buffer per record.
 *
 * Batch header, 61 bytes: baseOffset int64 | batchLength int32 | partitionLeaderEpoch int32 |
 * magic int8 | crc uint32 (CRC-32C of everything after it) | attributes int16 |
 * lastOffsetDelta int32 | baseTimestamp int64 | maxTimestamp int64 | producerId int64 |
 * producerEpoch int16 | baseSequence int32 | recordCount int32.
 * Record: length varint | attributes int8 | timestampDelta varlong | offsetDelta varint |
 * key (varint length, bytes) | value (varint length, bytes) | header count varint |
 * headers (varint key length, key, varint value length, value). Varints are zigzag; null is length -1.
 */
import { compressionsAlgorithms } from '@platformatic/kafka';
import { crc32c } from './crc32c.js';

export const BATCH_HEADER_SIZE = 61;
const CRC_OFFSET = 17;
const ATTRIBUTES_OFFSET = 21;
/** zigzag(-1): a null key, value or header value. */
const NULL_LENGTH = 1;
/** Length prefix, attributes, timestamp delta, offset delta, header count: at most. */
const RECORD_FRAMING = 5 + 1 + 1 + 5 + 5;

export type Compression = 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';
export type Bytes = string | Buffer | null;

/**
 * Writes text as UTF-8 at `offset`; returns the bytes written. Buffer#utf8Write is what
 * Buffer#write calls after parsing its arguments; called directly it costs less per record
 * (measured). The caller has made room (3 bytes per UTF-16 unit).
 */
export function writeUtf8(buffer: Buffer, text: string, offset: number): number {
  // Short ASCII text (keys, ids) is copied here: a call into the runtime costs more than the copy.
  const length = text.length;
  if (length <= SHORT_TEXT) {
    let i = 0;
    for (; i < length; i++) {
      const code = text.charCodeAt(i);
      if (code >= 0x80) break;
      buffer[offset + i] = code;
    }
    if (i === length) return length;
  }
  return (buffer as Buffer & { utf8Write(text: string, offset: number): number }).utf8Write(text, offset);
}

const SHORT_TEXT = 48;

/** Copies small byte runs (keys, header names): a loop beats Buffer#copy's call overhead below ~64 bytes. */
function copyBytes(from: Uint8Array, start: number, end: number, to: Buffer, pos: number): number {
  if (end - start > 64) {
    // A view costs 170 to 190 ns to make (measured): a whole Buffer is copied without one.
    to.set(start === 0 && end === from.length ? from : from.subarray(start, end), pos);
    return pos + end - start;
  }
  for (let i = start; i < end; i++) to[pos++] = from[i]!;
  return pos;
}

/** Bytes the zigzag varint of a non-negative length takes. */
function lengthSize(n: number): number {
  if (n < 64) return 1;
  if (n < 8192) return 2;
  if (n < 1048576) return 3;
  if (n < 134217728) return 4;
  return 5;
}

/** Writes the zigzag varint of a non-negative int; returns the position after it. */
function writeLength(buffer: Buffer, pos: number, n: number): number {
  let v = n * 2;
  while (v >= 0x80) {
    buffer[pos++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  buffer[pos++] = v;
  return pos;
}

/**
 * Writes a string as UTF-8 after its length. The length prefix is sized for the string's UTF-16
 * length; when the UTF-8 length needs a longer prefix (non-ASCII text) the bytes move up.
 */
function writeString(buffer: Buffer, pos: number, text: string): number {
  const guess = lengthSize(text.length);
  const start = pos + guess;
  const written = writeUtf8(buffer, text, start);
  const actual = lengthSize(written);
  if (actual !== guess) buffer.copyWithin(pos + actual, start, start + written);
  writeLength(buffer, pos, written);
  return pos + actual + written;
}

function writeBytes(buffer: Buffer, pos: number, bytes: Bytes): number {
  if (bytes === null) {
    buffer[pos] = NULL_LENGTH;
    return pos + 1;
  }
  if (typeof bytes === 'string') return writeString(buffer, pos, bytes);
  if (!Buffer.isBuffer(bytes)) throw new NotBytesError(bytes);
  pos = writeLength(buffer, pos, bytes.length);
  return copyBytes(bytes, 0, bytes.length, buffer, pos);
}

/** A key, value or header value that is not a string, a Buffer or null (a handler's mistake). */
export class NotBytesError extends TypeError {
  constructor(value: unknown) {
    super(`expected a string, a Buffer or null, got ${Array.isArray(value) ? 'an array' : typeof value}`);
  }
}

/** The most bytes a key, value or header value takes in a record, length prefix included. */
export function bytesBound(bytes: Bytes): number {
  if (bytes === null) return 1;
  // Anything else is refused when written; its bound only has to be a number.
  return 5 + (typeof bytes === 'string' ? bytes.length * 3 : (bytes.length ?? 0));
}

/** A header name as a record holds it (length prefix and UTF-8), encoded once and reused. */
export function headerName(name: string): Buffer {
  const bytes = Buffer.from(name, 'utf8');
  const out = Buffer.allocUnsafe(lengthSize(bytes.length) + bytes.length);
  bytes.copy(out, writeLength(out, 0, bytes.length));
  return out;
}

/**
 * Headers of one record: encoded names and their values, in parallel arrays the caller reuses. A
 * value given as part of a larger Buffer (a relayed event's id in its message) is its bytes
 * [starts[h], ends[h]), so it needs no view of its own; starts[h] is -1 for a value written whole.
 */
export interface RecordHeaders {
  names: Buffer[];
  values: Bytes[];
  starts: number[];
  ends: number[];
  count: number;
}

export function noHeaders(): RecordHeaders {
  return { names: [], values: [], starts: [], ends: [], count: 0 };
}

/** Adds a header whose value is written whole. */
export function addHeader(headers: RecordHeaders, name: Buffer, value: Bytes): void {
  addHeaderSpan(headers, name, value, -1, -1);
}

/** Adds a header whose value is bytes [start, end) of `bytes`. */
export function addHeaderPart(
  headers: RecordHeaders,
  name: Buffer,
  bytes: Buffer,
  start: number,
  end: number,
): void {
  addHeaderSpan(headers, name, bytes, start, end);
}

function addHeaderSpan(headers: RecordHeaders, name: Buffer, value: Bytes, start: number, end: number): void {
  const h = headers.count++;
  headers.names[h] = name;
  headers.values[h] = value;
  headers.starts[h] = start;
  headers.ends[h] = end;
}

/** The most bytes a record with this key length, value and headers takes. */
export function recordBound(keyLength: number, value: Bytes, headers: RecordHeaders): number {
  let bound = RECORD_FRAMING + 5 + keyLength + bytesBound(value);
  for (let h = 0; h < headers.count; h++) {
    const start = headers.starts[h]!;
    bound +=
      headers.names[h]!.length + (start < 0 ? bytesBound(headers.values[h]!) : 5 + headers.ends[h]! - start);
  }
  return bound;
}

/** Who wrote a batch, for the broker's duplicate detection (idempotent producing); -1s without. */
export interface BatchStamp {
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
  /** Written inside a Kafka transaction: read_committed consumers see it only once it commits. */
  transactional?: boolean;
}

/**
 * One partition's batch being written: records are appended, then the batch is sealed (compressed,
 * stamped, checksummed) and sent as it is. The Buffer grows when a record needs more room and is
 * handed back for reuse once the batch is acknowledged.
 */
export class RecordBatch {
  private buffer: Buffer;
  private pos = BATCH_HEADER_SIZE;
  count = 0;
  private sealedSize = 0;
  private attributes = 0;
  /** Stamped and checksummed: the batch goes on the wire as it is, also when sent again. */
  sealed = false;

  constructor(
    buffer: Buffer,
    /** CreateTime of every record, ms since epoch. */
    private readonly timestamp: number,
  ) {
    this.buffer = buffer;
  }

  /** Bytes written so far, header included: the batch's size uncompressed. */
  get size(): number {
    return this.pos;
  }

  /** The sealed batch, as it goes on the wire. */
  get bytes(): Buffer {
    return this.buffer.subarray(0, this.sealedSize);
  }

  /** The Buffer, for reuse by the next batch. */
  release(): Buffer {
    const buffer = this.buffer;
    this.buffer = EMPTY;
    return buffer;
  }

  /**
   * Appends a record of at most `bound` bytes (recordBound). The key is bytes [keyStart, keyEnd) of
   * `key`, or null.
   */
  append(
    key: Buffer | null,
    keyStart: number,
    keyEnd: number,
    value: Bytes,
    headers: RecordHeaders,
    bound: number,
  ): void {
    if (this.pos + bound > this.buffer.length) this.grow(this.pos + bound);
    const buffer = this.buffer;
    const recordStart = this.pos;
    // The record's length comes first; 2 bytes (bodies of 64..8191 bytes) is guessed and fixed after.
    const bodyStart = recordStart + 2;
    let pos = bodyStart;
    buffer[pos++] = 0; // attributes
    buffer[pos++] = 0; // timestamp delta: every record has the batch's timestamp
    pos = writeLength(buffer, pos, this.count); // offset delta
    if (key === null) buffer[pos++] = NULL_LENGTH;
    else {
      pos = writeLength(buffer, pos, keyEnd - keyStart);
      pos = copyBytes(key, keyStart, keyEnd, buffer, pos);
    }
    pos = writeBytes(buffer, pos, value);
    pos = writeLength(buffer, pos, headers.count);
    for (let h = 0; h < headers.count; h++) {
      const name = headers.names[h]!;
      pos = copyBytes(name, 0, name.length, buffer, pos);
      const start = headers.starts[h]!;
      if (start < 0) pos = writeBytes(buffer, pos, headers.values[h]!);
      else {
        const end = headers.ends[h]!;
        pos = copyBytes(
          headers.values[h] as Buffer,
          start,
          end,
          buffer,
          writeLength(buffer, pos, end - start),
        );
      }
    }
    const bodyLength = pos - bodyStart;
    const prefix = lengthSize(bodyLength);
    if (prefix !== 2) {
      buffer.copyWithin(recordStart + prefix, bodyStart, pos);
      pos += prefix - 2;
    }
    writeLength(buffer, recordStart, bodyLength);
    this.pos = pos;
    this.count++;
  }

  /**
   * Compresses the records (when asked to); from then on the batch takes no more records. Returns
   * the batch's size as it will go on the wire, which is what the broker compares with
   * max.message.bytes.
   */
  close(compression: Compression): number {
    let end = this.pos;
    if (compression !== 'none') {
      const algorithm = compressionsAlgorithms[compression];
      const compressed = algorithm.compressSync(this.buffer.subarray(BATCH_HEADER_SIZE, end));
      end = BATCH_HEADER_SIZE + compressed.length;
      if (end > this.buffer.length) this.buffer = Buffer.allocUnsafe(end);
      compressed.copy(this.buffer, BATCH_HEADER_SIZE);
      this.attributes = algorithm.bitmask;
    }
    this.sealedSize = end;
    return end;
  }

  /** Writes the header and checksum of a closed batch: who wrote it, and its place in the partition. */
  seal(stamp: BatchStamp): void {
    const buffer = this.buffer;
    const end = this.sealedSize;
    const timestamp = BigInt(this.timestamp);
    buffer.writeBigInt64BE(0n, 0); // base offset: the broker assigns offsets
    buffer.writeInt32BE(end - 12, 8); // batch length: the bytes after this field
    buffer.writeInt32BE(-1, 12); // partition leader epoch: producers send -1
    buffer[16] = 2; // magic
    // Compression; CreateTime; the transactional bit.
    buffer.writeInt16BE(
      this.attributes | (stamp.transactional === true ? TRANSACTIONAL : 0),
      ATTRIBUTES_OFFSET,
    );
    buffer.writeInt32BE(this.count - 1, 23); // last offset delta
    buffer.writeBigInt64BE(timestamp, 27);
    buffer.writeBigInt64BE(timestamp, 35);
    buffer.writeBigInt64BE(stamp.producerId, 43);
    buffer.writeInt16BE(stamp.producerEpoch, 51);
    buffer.writeInt32BE(stamp.baseSequence, 53);
    buffer.writeInt32BE(this.count, 57);
    buffer.writeUInt32BE(crc32c(buffer, ATTRIBUTES_OFFSET, end), CRC_OFFSET);
    this.sealed = true;
  }

  private grow(needed: number): void {
    const grown = Buffer.allocUnsafe(Math.max(needed, this.buffer.length * 2));
    this.buffer.copy(grown, 0, 0, this.pos);
    this.buffer = grown;
  }
}

const EMPTY = Buffer.alloc(0);
/** Batch attribute bit 4: the batch belongs to a transaction. */
const TRANSACTIONAL = 0x10;
