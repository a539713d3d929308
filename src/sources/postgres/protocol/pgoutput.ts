/**
 * Decoder for PostgreSQL's pgoutput logical replication protocol, version 1
 * (https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html). Ours rather than
 * pg-logical-replication's: column values stay text (typed by values.ts without going through Date
 * or Number), unchanged TOAST columns stay distinguishable from NULL, LSNs stay 64-bit integers.
 */
import { PgRelayError } from '../../../core/errors.js';
import type { Lsn } from '../../../core/lsn.js';

export interface RelationColumn {
  name: string;
  typeOid: number;
  typeMod: number;
  /** Part of the replica identity (every column under REPLICA IDENTITY FULL). */
  isIdentity: boolean;
}

export interface Relation {
  id: number;
  schema: string;
  table: string;
  /** d(efault), n(othing), f(ull), i(ndex) */
  replicaIdentity: string;
  columns: RelationColumn[];
}

/** A column in a tuple: null, unchanged TOAST (not sent), or its text representation. */
export type TupleValue = null | typeof UNCHANGED_TOAST | string;
export const UNCHANGED_TOAST: unique symbol = Symbol('unchanged-toast');

export type PgoutputMessage =
  | { tag: 'begin'; finalLsn: Lsn; commitTimeMicros: bigint; xid: number }
  | { tag: 'commit'; commitLsn: Lsn; endLsn: Lsn; commitTimeMicros: bigint }
  | { tag: 'relation'; relation: Relation }
  | { tag: 'type'; typeOid: number; schema: string; name: string }
  | { tag: 'origin'; originLsn: Lsn; name: string }
  | { tag: 'insert'; relationId: number; newTuple: TupleValue[] }
  | {
      tag: 'update';
      relationId: number;
      oldKind: 'key' | 'old' | null;
      oldTuple: TupleValue[] | null;
      newTuple: TupleValue[];
    }
  | { tag: 'delete'; relationId: number; oldKind: 'key' | 'old'; oldTuple: TupleValue[] }
  | { tag: 'truncate'; relationIds: number[]; cascade: boolean; restartIdentity: boolean }
  | { tag: 'message'; transactional: boolean; lsn: Lsn; prefix: string; content: Buffer };

/** A pgoutput message pgrelay cannot read: never retried (it would fail the same way again). */
export class PgoutputError extends PgRelayError {
  constructor(message: string) {
    super('PGRELAY_PG_UNDECODABLE', `pgoutput: ${message}`);
  }
}

/** Reads one pgoutput message, `buffer` from `offset` on. Never keeps a reference to `buffer` (it belongs to the socket). */
export function decodePgoutput(buffer: Buffer, offset = 0): PgoutputMessage {
  const reader = new Reader(buffer, offset);
  const tag = reader.byte();
  switch (tag) {
    case 0x42 /* B */:
      return {
        tag: 'begin',
        finalLsn: reader.uint64(),
        commitTimeMicros: reader.int64(),
        xid: reader.uint32(),
      };
    case 0x43 /* C */: {
      reader.byte(); // flags, unused
      return {
        tag: 'commit',
        commitLsn: reader.uint64(),
        endLsn: reader.uint64(),
        commitTimeMicros: reader.int64(),
      };
    }
    case 0x52 /* R */: {
      const id = reader.uint32();
      const schema = reader.cstring();
      const table = reader.cstring();
      const replicaIdentity = String.fromCharCode(reader.byte());
      const count = reader.int16();
      const columns: RelationColumn[] = [];
      for (let i = 0; i < count; i++) {
        const flags = reader.byte();
        columns.push({
          isIdentity: (flags & 1) === 1,
          name: reader.cstring(),
          typeOid: reader.uint32(),
          typeMod: reader.int32(),
        });
      }
      return {
        tag: 'relation',
        relation: { id, schema: schema === '' ? 'pg_catalog' : schema, table, replicaIdentity, columns },
      };
    }
    case 0x59 /* Y */:
      return { tag: 'type', typeOid: reader.uint32(), schema: reader.cstring(), name: reader.cstring() };
    case 0x4f /* O */:
      return { tag: 'origin', originLsn: reader.uint64(), name: reader.cstring() };
    case 0x49 /* I */: {
      const relationId = reader.uint32();
      reader.expect(0x4e /* N */);
      return { tag: 'insert', relationId, newTuple: reader.tuple() };
    }
    case 0x55 /* U */: {
      const relationId = reader.uint32();
      let kind = reader.byte();
      let oldKind: 'key' | 'old' | null = null;
      let oldTuple: TupleValue[] | null = null;
      if (kind === 0x4b /* K */ || kind === 0x4f /* O */) {
        oldKind = kind === 0x4b ? 'key' : 'old';
        oldTuple = reader.tuple();
        kind = reader.byte();
      }
      if (kind !== 0x4e /* N */)
        throw new PgoutputError(`update: expected new tuple marker N, got 0x${kind.toString(16)}`);
      return { tag: 'update', relationId, oldKind, oldTuple, newTuple: reader.tuple() };
    }
    case 0x44 /* D */: {
      const relationId = reader.uint32();
      const kind = reader.byte();
      if (kind !== 0x4b && kind !== 0x4f)
        throw new PgoutputError(`delete: expected K or O, got 0x${kind.toString(16)}`);
      return { tag: 'delete', relationId, oldKind: kind === 0x4b ? 'key' : 'old', oldTuple: reader.tuple() };
    }
    case 0x54 /* T */: {
      const count = reader.uint32();
      const options = reader.byte();
      const relationIds: number[] = [];
      for (let i = 0; i < count; i++) relationIds.push(reader.uint32());
      return {
        tag: 'truncate',
        relationIds,
        cascade: (options & 1) !== 0,
        restartIdentity: (options & 2) !== 0,
      };
    }
    case 0x4d /* M */: {
      const transactional = (reader.byte() & 1) === 1;
      const lsn = reader.uint64();
      const prefix = reader.cstring();
      const length = reader.uint32();
      return { tag: 'message', transactional, lsn, prefix, content: Buffer.from(reader.bytes(length)) };
    }
    default:
      throw new PgoutputError(
        `unknown pgoutput message type ${JSON.stringify(String.fromCharCode(tag))} (0x${tag.toString(16)})`,
      );
  }
}

class Reader {
  private offset: number;

  constructor(
    private readonly buffer: Buffer,
    /** Where the message starts in `buffer`. */
    private readonly start: number,
  ) {
    this.offset = start;
  }

  byte(): number {
    this.need(1);
    return this.buffer[this.offset++]!;
  }

  expect(value: number): void {
    const got = this.byte();
    if (got !== value) throw new PgoutputError(`expected 0x${value.toString(16)}, got 0x${got.toString(16)}`);
  }

  int16(): number {
    this.need(2);
    const value = this.buffer.readInt16BE(this.offset);
    this.offset += 2;
    return value;
  }

  int32(): number {
    this.need(4);
    const value = this.buffer.readInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  uint32(): number {
    this.need(4);
    const value = this.buffer.readUInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  uint64(): bigint {
    this.need(8);
    const value = this.buffer.readBigUInt64BE(this.offset);
    this.offset += 8;
    return value;
  }

  int64(): bigint {
    this.need(8);
    const value = this.buffer.readBigInt64BE(this.offset);
    this.offset += 8;
    return value;
  }

  cstring(): string {
    const end = this.buffer.indexOf(0, this.offset);
    if (end === -1) throw new PgoutputError('unterminated string');
    const value = this.buffer.toString('utf8', this.offset, end);
    this.offset = end + 1;
    return value;
  }

  bytes(length: number): Buffer {
    this.need(length);
    const value = this.buffer.subarray(this.offset, this.offset + length);
    this.offset += length;
    return value;
  }

  tuple(): TupleValue[] {
    const count = this.int16();
    const values: TupleValue[] = new Array<TupleValue>(count);
    for (let i = 0; i < count; i++) {
      const kind = this.byte();
      switch (kind) {
        case 0x6e /* n */:
          values[i] = null;
          break;
        case 0x75 /* u */:
          values[i] = UNCHANGED_TOAST;
          break;
        case 0x74 /* t */: {
          const length = this.uint32();
          this.need(length);
          values[i] = this.buffer.toString('utf8', this.offset, this.offset + length);
          this.offset += length;
          break;
        }
        default:
          throw new PgoutputError(`tuple column ${i}: unknown kind 0x${kind.toString(16)}`);
      }
    }
    return values;
  }

  private need(length: number): void {
    if (this.offset + length > this.buffer.length) {
      throw new PgoutputError(
        `message truncated: needed ${length} bytes at offset ${this.offset - this.start} of ${this.buffer.length - this.start}`,
      );
    }
  }
}

/** Microseconds between the Unix epoch and PostgreSQL's (2000-01-01). */
export const PG_EPOCH_MICROS = 946_684_800_000_000n;

const PG_EPOCH_SECONDS = Number(PG_EPOCH_MICROS / 1_000_000n);
/** The last second pgTime() formatted, and its text up to the seconds: commits come in order. */
let formattedSecond = Number.NaN;
let formattedPrefix = '';

/**
 * A PostgreSQL timestamp (µs since 2000-01-01) as ISO 8601 UTC with microseconds, and as epoch ms.
 * Every transaction's begin passes here: in Number arithmetic, and with each second's text made
 * once, a call takes 0.14 µs instead of the 0.8 µs that BigInt arithmetic and a Date per call took
 * (measured, a million calls), about 6% of a single-row transaction's CPU.
 */
export function pgTime(micros: bigint): { iso: string; ms: number } {
  let seconds: number;
  let fraction: number;
  const value = Number(micros);
  if (Number.isSafeInteger(value)) {
    // Exact: below 2^53 the quotient's neighbouring doubles are under 2 µs apart, so a fraction
    // of at most 999,999 µs never rounds up to the next second.
    seconds = Math.floor(value / 1_000_000);
    fraction = value - seconds * 1_000_000;
  } else {
    const remainder = ((micros % 1_000_000n) + 1_000_000n) % 1_000_000n;
    seconds = Number((micros - remainder) / 1_000_000n);
    fraction = Number(remainder);
  }
  const unixSeconds = seconds + PG_EPOCH_SECONDS;
  if (unixSeconds !== formattedSecond) {
    formattedPrefix = new Date(unixSeconds * 1000).toISOString().slice(0, 19);
    formattedSecond = unixSeconds;
  }
  return {
    iso: `${formattedPrefix}.${String(fraction + 1_000_000).slice(1)}Z`,
    ms: unixSeconds * 1000 + Math.floor(fraction / 1000),
  };
}
