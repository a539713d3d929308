/**
 * Walks the record batches (magic 2) of one fetched partition without decoding more than asked:
 * a record is a handful of positions in a Buffer until its key, value or headers are read. Written
 * from the Kafka protocol specification ("Record Batch"); compressed batches are inflated with
 * @platformatic/kafka's codecs, and every batch's CRC-32C is checked.
 */
import { crc32c } from '@node-rs/crc32';
import { compressionsAlgorithmsByBitmask } from '@platformatic/kafka';
import { PgRelayError } from '../core/errors.js';
import type { AbortedTransaction } from './fetch.js';

/** Batch header: base offset (8), length (4), leader epoch (4), magic (1), CRC (4), then the CRC'd part. */
const LENGTH_AT = 8;
const MAGIC_AT = 16;
const CRC_AT = 17;
const ATTRIBUTES_AT = 21;
const LAST_OFFSET_DELTA_AT = 23;
const BASE_TIMESTAMP_AT = 27;
const MAX_TIMESTAMP_AT = 35;
const PRODUCER_ID_AT = 43;
const RECORD_COUNT_AT = 57;
const HEADER_BYTES = 61;
/** The batch length field counts the bytes after itself. */
const LENGTH_FIELD_END = 12;

const COMPRESSION_MASK = 0x07;
const LOG_APPEND_TIME = 0x08;
const TRANSACTIONAL = 0x10;
const CONTROL = 0x20;
const ABORT_MARKER = 0;

/** One record header; a name may repeat, and a value may be null. */
export type RecordHeader = [name: string, value: Buffer | null];

/** Where fetched records came from, for error messages. */
export interface RecordOrigin {
  topic: string;
  partition: number;
}

/**
 * A record batch Kafka sent that cannot be read: a CRC that does not match (the bytes were damaged),
 * an unknown format or compression. Names the topic, partition and the batch's first offset.
 */
export class CorruptRecordBatchError extends PgRelayError {
  constructor(
    origin: RecordOrigin,
    readonly offset: number,
    problem: string,
  ) {
    super('PGRELAY_KAFKA_CORRUPT_BATCH', `${origin.topic}[${origin.partition}]@${offset}: ${problem}`);
  }
}

/**
 * Reads the records of one partition's fetched bytes in order: `next()` moves to the next record
 * (skipping control batches and batches of aborted transactions), then the fields and `key()`,
 * `value()`, `headers()` describe it. Offsets and timestamps are numbers: exact below 2^53.
 */
export class RecordReader {
  /** The current record's offset and timestamp (ms since epoch). */
  offset = -1;
  timestamp = 0;
  /** The offset to fetch next: after the last complete batch read so far (-1 before any). */
  nextOffset = -1;
  /** When the bytes end in a cut-short batch: that batch's whole size, so a fetch can ask for it. */
  incompleteBatchBytes = 0;

  /** The bytes the current record lives in: the fetched bytes, or an inflated batch. */
  data: Buffer;
  /** Where the current record's headers start in `data`, and how many there are (see readHeaders). */
  headersStart = 0;
  headerCount = 0;
  private position = 0;
  private keyStart = 0;
  private keyLength = -1;
  private valueStart = 0;
  private valueLength = -1;

  /** Position of the next batch in the fetched bytes. */
  private batchAt = 0;
  private recordsLeft = 0;
  private baseOffset = 0;
  private baseTimestamp = 0;
  private logAppendTime = -1;
  private readonly aborted: AbortedTransaction[];
  /** Producers whose aborted transaction has begun and whose abort marker has not been seen. */
  private readonly abortedProducers = new Set<bigint>();

  constructor(
    private readonly records: Buffer,
    private readonly origin: RecordOrigin,
    abortedTransactions: readonly AbortedTransaction[] | null = null,
  ) {
    this.data = records;
    this.aborted = abortedTransactions === null ? [] : [...abortedTransactions].sort(byFirstOffset);
  }

  /** Moves to the next record; false when no complete batch has any left. */
  next(): boolean {
    while (this.recordsLeft === 0) {
      if (!this.openBatch()) return false;
    }
    this.recordsLeft--;
    const data = this.data;
    let p = skipVarint(data, this.position); // record length
    p++; // attributes
    p = readVarint(data, p);
    this.timestamp = this.logAppendTime >= 0 ? this.logAppendTime : this.baseTimestamp + varint;
    p = readVarint(data, p);
    this.offset = this.baseOffset + varint;
    p = readVarint(data, p);
    this.keyLength = varint;
    this.keyStart = p;
    if (varint > 0) p += varint;
    p = readVarint(data, p);
    this.valueLength = varint;
    this.valueStart = p;
    if (varint > 0) p += varint;
    p = readVarint(data, p);
    this.headerCount = varint;
    this.headersStart = p;
    for (let h = 0; h < this.headerCount; h++) {
      p = readVarint(data, p);
      if (varint > 0) p += varint;
      p = readVarint(data, p);
      if (varint > 0) p += varint;
    }
    this.position = p;
    return true;
  }

  key(): Buffer | null {
    return this.keyLength < 0 ? null : this.data.subarray(this.keyStart, this.keyStart + this.keyLength);
  }

  value(): Buffer | null {
    return this.valueLength < 0
      ? null
      : this.data.subarray(this.valueStart, this.valueStart + this.valueLength);
  }

  /** Key and value bytes of the current record (what pgrelay counts as its size). */
  get size(): number {
    return Math.max(this.keyLength, 0) + Math.max(this.valueLength, 0);
  }

  headers(): RecordHeader[] {
    return readHeaders(this.data, this.headersStart, this.headerCount);
  }

  /** Opens the next complete batch; false when none is left. Skips control and aborted batches whole. */
  private openBatch(): boolean {
    const bytes = this.records;
    const at = this.batchAt;
    if (at + LENGTH_FIELD_END > bytes.length) return false;
    const baseOffset = readInt64(bytes, at);
    const end = at + LENGTH_FIELD_END + bytes.readInt32BE(at + LENGTH_AT);
    if (end > bytes.length || at + HEADER_BYTES > bytes.length) {
      this.incompleteBatchBytes = end - at;
      return false;
    }
    const magic = bytes[at + MAGIC_AT];
    if (magic !== 2) {
      throw new CorruptRecordBatchError(
        this.origin,
        baseOffset,
        `record batch format (magic) ${magic} is not supported: pgrelay reads magic 2 (Kafka 0.11 and newer)`,
      );
    }
    const crc = crc32c(bytes.subarray(at + ATTRIBUTES_AT, end));
    if (crc !== bytes.readUInt32BE(at + CRC_AT)) {
      throw new CorruptRecordBatchError(
        this.origin,
        baseOffset,
        `record batch CRC-32C mismatch (stored ${hex(bytes.readUInt32BE(at + CRC_AT))}, computed ${hex(crc)}): the batch is damaged`,
      );
    }
    this.batchAt = end;
    const attributes = bytes.readInt16BE(at + ATTRIBUTES_AT);
    this.nextOffset = baseOffset + bytes.readInt32BE(at + LAST_OFFSET_DELTA_AT) + 1;
    if (this.skipped(attributes, bytes, at, end)) return true;

    this.baseOffset = baseOffset;
    this.baseTimestamp = readInt64(bytes, at + BASE_TIMESTAMP_AT);
    this.logAppendTime = attributes & LOG_APPEND_TIME ? readInt64(bytes, at + MAX_TIMESTAMP_AT) : -1;
    this.recordsLeft = bytes.readInt32BE(at + RECORD_COUNT_AT);
    const codec = attributes & COMPRESSION_MASK;
    if (codec === 0) {
      this.data = bytes;
      this.position = at + HEADER_BYTES;
    } else {
      this.data = this.inflate(codec, bytes.subarray(at + HEADER_BYTES, end), baseOffset);
      this.position = 0;
    }
    return true;
  }

  /**
   * Control batches (transaction markers) carry no data; batches of an aborted transaction are
   * dropped as the Java consumer does with isolation.level=read_committed.
   */
  private skipped(attributes: number, bytes: Buffer, at: number, end: number): boolean {
    if ((attributes & (CONTROL | TRANSACTIONAL)) === 0) return false;
    const producerId = bytes.readBigInt64BE(at + PRODUCER_ID_AT);
    const lastOffset = BigInt(this.nextOffset - 1);
    while (this.aborted.length > 0 && this.aborted[0]!.firstOffset <= lastOffset) {
      this.abortedProducers.add(this.aborted.shift()!.producerId);
    }
    if (attributes & CONTROL) {
      if (this.abortedProducers.has(producerId) && controlType(bytes, at, end) === ABORT_MARKER) {
        this.abortedProducers.delete(producerId);
      }
      return true;
    }
    return this.abortedProducers.has(producerId);
  }

  private inflate(codec: number, compressed: Buffer, baseOffset: number): Buffer {
    const algorithm = (
      compressionsAlgorithmsByBitmask as Record<number, { decompressSync(data: Buffer): Buffer } | undefined>
    )[codec];
    if (algorithm === undefined) {
      throw new CorruptRecordBatchError(this.origin, baseOffset, `unknown compression codec ${codec}`);
    }
    try {
      return algorithm.decompressSync(compressed);
    } catch (error) {
      throw new CorruptRecordBatchError(
        this.origin,
        baseOffset,
        `compressed batch (codec ${codec}) does not decompress: ${(error as Error).message}`,
      );
    }
  }
}

/** The `count` headers of a record starting at `start` of `data` (RecordReader's data, headersStart, headerCount). */
export function readHeaders(data: Buffer, start: number, count: number): RecordHeader[] {
  const headers: RecordHeader[] = [];
  let p = start;
  for (let h = 0; h < count; h++) {
    p = readVarint(data, p);
    const name = data.toString('utf8', p, p + varint);
    p += Math.max(varint, 0);
    p = readVarint(data, p);
    headers.push([name, varint < 0 ? null : data.subarray(p, p + varint)]);
    p += Math.max(varint, 0);
  }
  return headers;
}

/** Where a partition's fetched bytes end: the offset after their last complete batch, and any cut-short batch. */
export interface BatchesScan {
  /** The offset after the last complete batch; -1 when no batch is complete. */
  nextOffset: number;
  /** The whole size of a batch cut short at the end (0 when none): a fetch must ask for that much. */
  incompleteBatchBytes: number;
}

/** Reads only batch headers (no CRC, no records): cheap enough to run as bytes arrive. */
export function scanBatches(records: Buffer): BatchesScan {
  let at = 0;
  let nextOffset = -1;
  while (at + LENGTH_FIELD_END <= records.length) {
    const end = at + LENGTH_FIELD_END + records.readInt32BE(at + LENGTH_AT);
    if (end > records.length || at + HEADER_BYTES > records.length) {
      return { nextOffset, incompleteBatchBytes: end - at };
    }
    nextOffset = readInt64(records, at) + records.readInt32BE(at + LAST_OFFSET_DELTA_AT) + 1;
    at = end;
  }
  return { nextOffset, incompleteBatchBytes: 0 };
}

/** The type of the control record in a control batch (its key: version int16, type int16). */
function controlType(bytes: Buffer, at: number, end: number): number {
  let p = skipVarint(bytes, at + HEADER_BYTES); // record length
  p++; // attributes
  p = skipVarint(bytes, p); // timestamp delta
  p = skipVarint(bytes, p); // offset delta
  p = readVarint(bytes, p); // key length
  return varint >= 4 && p + 4 <= end ? bytes.readInt16BE(p + 2) : -1;
}

function byFirstOffset(a: AbortedTransaction, b: AbortedTransaction): number {
  return a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0;
}

function readInt64(bytes: Buffer, at: number): number {
  return bytes.readInt32BE(at) * 4294967296 + bytes.readUInt32BE(at + 4);
}

function hex(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}

/** The value of the last readVarint: a module variable, so reading a record allocates nothing. */
let varint = 0;

/** Reads the zigzag varint at `p` into `varint`; returns the position after it. */
function readVarint(bytes: Buffer, p: number): number {
  let byte = bytes[p++]!;
  let raw = byte & 0x7f;
  let scale = 128;
  while (byte & 0x80) {
    byte = bytes[p++]!;
    raw += (byte & 0x7f) * scale;
    scale *= 128;
  }
  varint = raw % 2 === 0 ? raw / 2 : -(raw + 1) / 2;
  return p;
}

function skipVarint(bytes: Buffer, p: number): number {
  while (bytes[p++]! & 0x80);
  return p;
}
