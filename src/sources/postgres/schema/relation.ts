import type { Row, Value } from '../../../core/event.js';
import { type Relation, type TupleValue, UNCHANGED_TOAST } from '../protocol/pgoutput.js';
import type { Converter, TypeRegistry } from './values.js';

/** A decoded row and the columns whose unchanged TOAST value the server did not send. */
export interface DecodedRow {
  row: Row;
  unchanged: string[];
}

/** How to turn one table's tuples into rows: column names, converters and key columns. */
export class RelationShape {
  readonly schema: string;
  readonly table: string;
  private readonly names: string[];
  private readonly converters: Converter[];
  /** Columns the server sends in an old-key tuple (replica identity). */
  private readonly identity: number[];
  /** Columns of the event's `key`: the primary key, or the replica identity index. */
  private readonly keyColumns: number[];

  /** `primaryKey` is needed when the replica identity does not name the key (FULL, NOTHING). */
  constructor(relation: Relation, types: TypeRegistry, primaryKey: readonly string[] | undefined) {
    this.schema = relation.schema;
    this.table = relation.table;
    this.names = relation.columns.map((c) => c.name);
    this.converters = relation.columns.map((c) => types.converter(c.typeOid));
    this.identity = relation.columns.flatMap((c, i) => (c.isIdentity ? [i] : []));
    this.keyColumns =
      primaryKey === undefined
        ? this.identity
        : primaryKey.map((name) => this.names.indexOf(name)).filter((i) => i >= 0);
  }

  /** Whether the key must come from a primary-key lookup rather than the relation message. */
  static needsPrimaryKey(relation: Relation): boolean {
    return relation.replicaIdentity === 'f' || relation.replicaIdentity === 'n';
  }

  decode(tuple: readonly TupleValue[]): DecodedRow {
    const row: Row = {};
    let unchanged: string[] | undefined;
    const count = Math.min(tuple.length, this.names.length);
    for (let i = 0; i < count; i++) {
      const value = tuple[i]!;
      if (value === null) row[this.names[i]!] = null;
      else if (value === UNCHANGED_TOAST) (unchanged ??= []).push(this.names[i]!);
      else row[this.names[i]!] = this.converters[i]!(value);
    }
    return { row, unchanged: unchanged ?? [] };
  }

  /** The replica-identity columns of an old-key tuple ('K'); the rest are sent as nulls and left out. */
  decodeIdentity(tuple: readonly TupleValue[]): Row {
    const row: Row = {};
    for (const i of this.identity) {
      const value = tuple[i];
      if (typeof value === 'string') row[this.names[i]!] = this.converters[i]!(value);
      else if (value === null) row[this.names[i]!] = null;
    }
    return row;
  }

  /** The key of a row, or null for tables without one. */
  key(row: Row): Row | null {
    if (this.keyColumns.length === 0) return null;
    const key: Row = {};
    for (const i of this.keyColumns) {
      const name = this.names[i]!;
      const value: Value | undefined = row[name];
      key[name] = value === undefined ? null : value;
    }
    return key;
  }
}
