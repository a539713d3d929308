import type { SinkRecord } from '../../core/handler.js';
import { SOURCE_JSON } from '../../core/event.js';
import { ReadEvent } from '../../core/read-event.js';
import { InvalidRecordError } from './errors.js';
import { keyPartition } from '../../kafka/murmur2.js';
import type { OutgoingBatch } from '../../kafka/producer.js';
import {
  type Compression,
  type RecordHeaders,
  addHeader,
  addHeaderPart,
  noHeaders,
  NotBytesError,
  RecordBatch,
  headerName,
  recordBound,
  writeUtf8,
} from '../../kafka/record-batch.js';

/** A topic records go to, as far as the sink knows it. */
export interface TopicTarget {
  readonly name: string;
  partitions: number;
  /** The largest batch the topic accepts (its max.message.bytes). */
  limit: number;
  /** Where records without a key go; it moves on with each batch, spreading them over partitions. */
  sticky: number;
}

/** A record's place in a plan: the index of its batch, or one of these. */
const UNMAPPED = -1;
const TOO_LARGE = -2;
const SET_ASIDE = -3;
const REENCODE = -4;

/**
 * One delivery: its records, each routed to a topic and encoded into per-partition batches, and
 * how far sending them got. A retry of the same delivery sends only the batches not yet
 * acknowledged, as they are.
 */
export class DeliveryPlan {
  batches: OutgoingBatch[] = [];
  /** Per record: its batch in `batches`, or UNMAPPED, TOO_LARGE, SET_ASIDE. */
  readonly batchOf: Int32Array;
  /** Records from here on are not sent (an earlier one is too large and the sink stops there). */
  end: number;

  constructor(
    readonly records: SinkRecord[],
    readonly targets: (TopicTarget | undefined)[],
  ) {
    this.batchOf = new Int32Array(records.length).fill(REENCODE);
    this.end = records.length;
  }

  /** Records too large for their topic even alone (not sent), in order, with their encoded size. */
  readonly tooLarge = new Map<number, number>();

  /** Whether the broker holds the record. */
  acknowledged(record: number): boolean {
    const index = this.batchOf[record]!;
    return index >= 0 && this.batches[index]!.state === 'acked';
  }

  /** Leaves a record out of this delivery (it went to the dead-letter topic). */
  setAside(record: number): void {
    this.batchOf[record] = SET_ASIDE;
    this.tooLarge.delete(record);
  }

  /** Bytes acknowledged so far. */
  get bytes(): number {
    let total = 0;
    for (const outgoing of this.batches) if (outgoing.state === 'acked') total += outgoing.batch.bytes.length;
    return total;
  }
}

/** Names of the headers every change event carries. */
const SOURCE = 'pgrelay-source';
const LSN = 'pgrelay-lsn';
const ID = 'pgrelay-id';
const HEADER_NAME_CACHE = 1024;
/** Compression may grow incompressible records a little: uncompressed batches stay this far under the limit. */
const COMPRESSED_HEADROOM = 0.95;

/**
 * Encodes a delivery's records into record batches: a key goes to the partition the Java client's
 * default partitioner picks (murmur2), records without a key stick to one partition per batch, and
 * no partition's batch grows past what its topic accepts. Buffers are reused from one delivery to
 * the next.
 */
export class BatchEncoder {
  private readonly headers: RecordHeaders = noHeaders();
  private readonly headerNames = new Map<string, Buffer>();
  private readonly fixedNames = { source: headerName(SOURCE), lsn: headerName(LSN), id: headerName(ID) };
  private source = { text: '', bytes: Buffer.alloc(0) };
  private lsn = { text: '', bytes: Buffer.alloc(0) };
  private keyScratch = Buffer.allocUnsafe(1024);
  private readonly pool: Buffer[] = [];
  private pooledBytes = 0;

  constructor(
    private readonly compression: Compression,
    /** Bytes of idle buffers kept for the next delivery. */
    private readonly poolLimit: number,
  ) {}

  /**
   * Encodes the plan's records [0, plan.end) that are not yet acknowledged into new batches (on a
   * retry after a failure, the batches not acknowledged are replaced). A record too large for its
   * topic even alone is marked, not sent (plan.tooLarge).
   */
  encode(plan: DeliveryPlan): void {
    const batches = this.keepAcknowledged(plan);
    const timestamp = Date.now();
    const open = new Map<TopicTarget, Int32Array>();
    const { records, targets, batchOf } = plan;
    const headers = this.headers;
    let lastTarget: TopicTarget | undefined;
    let lastOpen: Int32Array | undefined;
    plan.tooLarge.clear();
    for (let i = 0; i < plan.end; i++) {
      if (batchOf[i] !== REENCODE) continue;
      const target = targets[i];
      if (target === undefined) {
        batchOf[i] = UNMAPPED;
        continue;
      }
      let openBatches = target === lastTarget ? lastOpen! : open.get(target);
      if (openBatches === undefined) {
        open.set(target, (openBatches = new Int32Array(target.partitions).fill(-1)));
        target.sticky = (target.sticky + 1) % target.partitions;
      }
      lastTarget = target;
      lastOpen = openBatches;
      const record = records[i]!;
      try {
        const key = record.key;
        let keyBytes: Buffer | null = null;
        let keyLength = 0;
        let partition: number;
        if (key === null) partition = target.sticky;
        else {
          if (typeof key === 'string') {
            if (key.length * 3 > this.keyScratch.length) this.keyScratch = Buffer.allocUnsafe(key.length * 3);
            keyBytes = this.keyScratch;
            keyLength = writeUtf8(keyBytes, key, 0);
          } else if (Buffer.isBuffer(key)) {
            keyBytes = key;
            keyLength = key.length;
          } else throw new NotBytesError(key);
          partition = keyPartition(keyBytes, 0, keyLength, target.partitions);
        }
        this.fillHeaders(record);
        const bound = recordBound(keyLength, record.value, headers);
        const limit =
          this.compression === 'none' ? target.limit : Math.floor(target.limit * COMPRESSED_HEADROOM);
        let index = openBatches[partition]!;
        while (index >= 0 && batches[index]!.batch.size + bound > limit) {
          this.close(batches, index, openBatches, target);
          index = -1;
          if (key !== null) break;
          target.sticky = (target.sticky + 1) % target.partitions;
          partition = target.sticky;
          index = openBatches[partition]!;
        }
        if (index < 0) {
          index = batches.length;
          openBatches[partition] = index;
          batches.push({
            topic: target.name,
            partition,
            batch: new RecordBatch(this.take(), timestamp),
            state: 'pending',
          });
        }
        batches[index]!.batch.append(keyBytes, 0, keyLength, record.value, headers, bound);
        batchOf[i] = index;
      } catch (error) {
        if (error instanceof NotBytesError) throw new InvalidRecordError(record, target.name, error);
        throw error;
      }
    }
    for (const [target, openBatches] of open) {
      for (const index of openBatches) if (index >= 0) this.close(batches, index, openBatches, target);
    }
    plan.batches = this.dropTooLarge(plan, batches);
  }

  /**
   * Keeps the plan's acknowledged batches (renumbered) and hands the others' buffers back; their
   * records are marked for encoding (again).
   */
  private keepAcknowledged(plan: DeliveryPlan): OutgoingBatch[] {
    const previous = plan.batches;
    const kept: OutgoingBatch[] = [];
    const renumbered = new Int32Array(previous.length).fill(REENCODE);
    for (let b = 0; b < previous.length; b++) {
      if (previous[b]!.state === 'acked') renumbered[b] = kept.push(previous[b]!) - 1;
      else this.recycle(previous[b]!.batch);
    }
    const batchOf = plan.batchOf;
    for (let i = 0; i < plan.end; i++) {
      const was = batchOf[i]!;
      if (was >= 0) batchOf[i] = renumbered[was]!;
      else if (was !== SET_ASIDE) batchOf[i] = REENCODE;
    }
    return kept;
  }

  /** Takes single records over their topic's limit (closed, never stamped) out of the batches. */
  private dropTooLarge(plan: DeliveryPlan, batches: OutgoingBatch[]): OutgoingBatch[] {
    if (!batches.some((b) => b.state === 'failed')) return batches;
    const kept: OutgoingBatch[] = [];
    const renumbered = new Int32Array(batches.length);
    for (let b = 0; b < batches.length; b++) {
      const outgoing = batches[b]!;
      if (outgoing.state !== 'failed') renumbered[b] = kept.push(outgoing) - 1;
      else renumbered[b] = TOO_LARGE;
    }
    const batchOf = plan.batchOf;
    for (let i = 0; i < plan.end; i++) {
      const index = batchOf[i]!;
      if (index < 0 || renumbered[index]! !== TOO_LARGE) {
        if (index >= 0) batchOf[i] = renumbered[index]!;
        continue;
      }
      batchOf[i] = TOO_LARGE;
      plan.tooLarge.set(i, batches[index]!.batch.bytes.length);
      this.recycle(batches[index]!.batch);
    }
    return kept;
  }

  /** Hands a delivery's buffers back for the next one. */
  release(plan: DeliveryPlan): void {
    for (const outgoing of plan.batches) this.recycle(outgoing.batch);
    plan.batches = [];
  }

  /**
   * Closes a partition's open batch: compresses it (the producer stamps it as it sends it). A record
   * alone over the limit is marked failed, for encode() to report.
   */
  private close(batches: OutgoingBatch[], index: number, openBatches: Int32Array, target: TopicTarget): void {
    const outgoing = batches[index]!;
    openBatches[outgoing.partition] = -1;
    const size = outgoing.batch.close(this.compression);
    if (outgoing.batch.count === 1 && size > target.limit) {
      outgoing.state = 'failed';
      outgoing.failure = {
        id: 'MESSAGE_TOO_LARGE',
        message: `${size} bytes, ${target.name} accepts ${target.limit}`,
      };
    }
  }

  /** The record's headers: a change event's source, LSN and id, then the record's own. */
  private fillHeaders(record: SinkRecord): void {
    const headers = this.headers;
    headers.count = 0;
    const origin = record.origin;
    const own = record.headers;
    if (origin !== undefined && origin.action !== 'raw') {
      // A transaction's events share source and LSN: their bytes are encoded once.
      if (origin.source !== this.source.text)
        this.source = { text: origin.source, bytes: Buffer.from(origin.source) };
      // A read event holds its LSN and id as bytes: making them text would only be undone here.
      const read = origin instanceof ReadEvent ? origin : undefined;
      if (read === undefined && origin.lsn !== this.lsn.text)
        this.lsn = { text: origin.lsn, bytes: Buffer.from(origin.lsn) };
      // A handler's own header of the same name replaces pgrelay's.
      if (own === undefined || !(SOURCE in own))
        addHeader(headers, this.fixedNames.source, this.source.bytes);
      if (own === undefined || !(LSN in own)) {
        if (read === undefined) addHeader(headers, this.fixedNames.lsn, this.lsn.bytes);
        else addHeaderPart(headers, this.fixedNames.lsn, read[SOURCE_JSON], read.lsnStart, read.lsnEnd);
      }
      if (own === undefined || !(ID in own)) {
        if (read === undefined) addHeader(headers, this.fixedNames.id, origin.id);
        else addHeaderPart(headers, this.fixedNames.id, read[SOURCE_JSON], read.idStart, read.idEnd);
      }
    }
    if (own === undefined) return;
    for (const name in own) {
      const value = own[name]!;
      const encoded = this.headerName(name);
      if (Array.isArray(value)) for (const item of value) addHeader(headers, encoded, item);
      else addHeader(headers, encoded, value);
    }
  }

  private headerName(name: string): Buffer {
    let encoded = this.headerNames.get(name);
    if (encoded === undefined) {
      encoded = headerName(name);
      if (this.headerNames.size < HEADER_NAME_CACHE) this.headerNames.set(name, encoded);
    }
    return encoded;
  }

  private take(): Buffer {
    const buffer = this.pool.pop();
    if (buffer === undefined) return Buffer.allocUnsafe(64 * 1024);
    this.pooledBytes -= buffer.length;
    return buffer;
  }

  private recycle(batch: RecordBatch): void {
    const buffer = batch.release();
    if (buffer.length === 0 || this.pooledBytes + buffer.length > this.poolLimit) return;
    this.pool.push(buffer);
    this.pooledBytes += buffer.length;
  }
}
