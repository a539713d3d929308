import type { Row, Value } from '../../../core/event.js';
import { type Relation, type TupleValue, UNCHANGED_TOAST } from '../protocol/pgoutput.js';
import type { Converter, TypeRegistry } from './values.js';

/** A replica identity: d(efault: the primary key), n(othing), f(ull), i(ndex). */
export type ReplicaIdentity = 'd' | 'n' | 'f' | 'i';

/** What the catalog or a relation message says about a table; `Table` is built from it. */
export interface TableDefinition {
  schema: string;
  table: string;
  /** The published columns in table order, with their type OIDs. */
  columns: readonly { name: string; typeOid: number }[];
  identity: ReplicaIdentity;
  /** The replica identity's columns (the primary key's, the index's, or all for FULL), in table order. */
  identityColumns: readonly string[];
  /** The primary key's columns in index order; needed when the identity does not name the key. */
  primaryKey: readonly string[];
}

/** A decoded row and the columns whose unchanged TOAST value the server did not send. */
export interface DecodedRow {
  row: Row;
  unchanged: string[];
}

const NOTHING_UNCHANGED: string[] = [];

/**
 * One table as pgrelay maps it, the same for the stream, snapshots and backfills: column names and
 * converters, the columns of the event's `key`, and the replica identity columns an old-key tuple
 * carries. The same row gives the same event values and key JSON whichever path read it.
 */
export class Table {
  readonly schema: string;
  readonly table: string;
  /** `schema.table`, what topic maps and backfill requests name. */
  readonly name: string;
  readonly columns: readonly string[];
  private readonly converters: readonly Converter[];
  private readonly identity: readonly number[];
  /** Columns of the event's `key`, in the order events name them; empty: the key is null. */
  readonly keyColumns: readonly string[];
  private readonly keyIndexes: readonly number[];

  constructor(definition: TableDefinition, types: TypeRegistry) {
    this.schema = definition.schema;
    this.table = definition.table;
    this.name = `${definition.schema}.${definition.table}`;
    this.columns = definition.columns.map((c) => c.name);
    this.converters = definition.columns.map((c) => types.converter(c.typeOid));
    const identity = new Set(definition.identityColumns);
    this.identity = this.columns.flatMap((name, i) => (identity.has(name) ? [i] : []));
    this.keyColumns = eventKeyColumns(definition, this.columns);
    this.keyIndexes = this.keyColumns.map((name) => this.columns.indexOf(name));
  }

  /** The table of a pgoutput relation message; `primaryKey` when its identity does not name the key. */
  static fromRelation(relation: Relation, types: TypeRegistry, primaryKey: readonly string[] = []): Table {
    return new Table(
      {
        schema: relation.schema,
        table: relation.table,
        columns: relation.columns,
        identity: relation.replicaIdentity as ReplicaIdentity,
        identityColumns: relation.columns.filter((c) => c.isIdentity).map((c) => c.name),
        primaryKey,
      },
      types,
    );
  }

  /** Whether a relation's key must come from a primary-key lookup rather than its identity columns. */
  static needsPrimaryKey(relation: Relation): boolean {
    return relation.replicaIdentity === 'f' || relation.replicaIdentity === 'n';
  }

  /** A tuple (the stream's, or a snapshot row's text values) as a row; unchanged TOAST kept apart. */
  decode(tuple: readonly (TupleValue | undefined)[]): DecodedRow {
    const row: Row = {};
    let unchanged: string[] | undefined;
    const count = Math.min(tuple.length, this.columns.length);
    for (let i = 0; i < count; i++) {
      const value = tuple[i];
      if (value === null || value === undefined) row[this.columns[i]!] = null;
      else if (value === UNCHANGED_TOAST) (unchanged ??= []).push(this.columns[i]!);
      else row[this.columns[i]!] = this.converters[i]!(value);
    }
    return { row, unchanged: unchanged ?? NOTHING_UNCHANGED };
  }

  /** The replica-identity columns of an old-key tuple ('K'); the rest are sent as nulls and left out. */
  decodeIdentity(tuple: readonly TupleValue[]): Row {
    const row: Row = {};
    for (const i of this.identity) {
      const value = tuple[i];
      if (typeof value === 'string') row[this.columns[i]!] = this.converters[i]!(value);
      else if (value === null) row[this.columns[i]!] = null;
    }
    return row;
  }

  /** The key of a row, or null for a table without one. */
  key(row: Row): Row | null {
    if (this.keyIndexes.length === 0) return null;
    const key: Row = {};
    for (const name of this.keyColumns) {
      const value: Value | undefined = row[name];
      key[name] = value === undefined ? null : value;
    }
    return key;
  }
}

/**
 * The event key's columns: the identity's columns in table order when the identity names the key
 * (default, index), else the primary key in index order (FULL, NOTHING). Only published columns.
 */
function eventKeyColumns(definition: TableDefinition, published: readonly string[]): string[] {
  const names = new Set(published);
  if (definition.identity === 'd' || definition.identity === 'i')
    return published.filter((name) => definition.identityColumns.includes(name));
  return definition.primaryKey.filter((name) => names.has(name));
}
