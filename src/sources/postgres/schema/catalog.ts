import type pg from 'pg';
import { PostgresSourceError } from '../errors.js';
import { qualify } from '../config.js';
import type { ReplicaIdentity, TableDefinition } from './table.js';

/** A table a snapshot or backfill cannot read: missing, not in the publication, or (backfills) without a key. */
export class UnreadableTableError extends PostgresSourceError {
  constructor(message: string) {
    super('PGRELAY_PG_SNAPSHOT_TABLE', message);
  }
}

/** What reading a table needs beside its definition. */
export interface TableCatalogEntry {
  definition: TableDefinition;
  /** Columns of the index chunks are ordered by, in index order (primary key or identity index). */
  indexColumns: readonly string[];
  /** The publication's row filter, if any. */
  rowFilter: string | null;
  /** pg_class estimates, for sizing heap-block chunks. */
  rowsPerPage: number | null;
}

/**
 * The columns of a table's primary key (`primary`) or replica identity index (`identity`), in
 * index order: the one place pgrelay asks the catalog for a key.
 */
export async function indexColumns(
  client: pg.Client,
  tableOid: number,
  kind: 'primary' | 'identity',
): Promise<string[]> {
  const result = await client.query<{ name: string }>(
    `SELECT a.attname::text AS name FROM pg_index i
       CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
      WHERE i.indrelid = $1 AND ${kind === 'primary' ? 'i.indisprimary' : 'i.indisreplident'}
      ORDER BY k.n`,
    [tableOid],
  );
  return result.rows.map((r) => r.name);
}

/**
 * A table as pgoutput would send it: its columns (a publication's column list, generated columns
 * left out), replica identity and keys, and the publication's row filter. `publications` undefined:
 * the table need not be published; `requirePublished`: one of them must publish it.
 */
export async function lookUpTable(
  client: pg.Client,
  name: string,
  options: { publications: readonly string[] | undefined; requirePublished: boolean },
): Promise<TableCatalogEntry> {
  const qualified = qualify(name);
  const dot = qualified.indexOf('.');
  const schema = qualified.slice(0, dot);
  const table = qualified.slice(dot + 1);
  const found = await client.query<{
    oid: string;
    identity: ReplicaIdentity;
    reltuples: number;
    relpages: number;
  }>(
    `SELECT c.oid::int8 AS oid, c.relreplident AS identity, c.reltuples::float8 AS reltuples, c.relpages
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')`,
    [schema, table],
  );
  const row = found.rows[0];
  if (row === undefined) throw new UnreadableTableError(`table ${qualified} does not exist`);
  const oid = Number(row.oid);
  const published =
    options.publications === undefined
      ? undefined
      : (
          await client.query<{ columns: string[]; rowfilter: string | null }>(
            `SELECT attnames::text[] AS columns, rowfilter FROM pg_publication_tables
              WHERE pubname = ANY($1) AND schemaname = $2 AND tablename = $3`,
            [options.publications, schema, table],
          )
        ).rows[0];
  if (published === undefined && options.requirePublished) {
    const names = options.publications!.map((p) => `"${p}"`).join(' or ');
    throw new UnreadableTableError(
      `table ${qualified} is not in publication ${names}: its changes are not streamed`,
    );
  }
  const attributes = await client.query<{ name: string; type: string }>(
    `SELECT attname::text AS name, atttypid::int8 AS type FROM pg_attribute
      WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum`,
    [oid],
  );
  const listed = published === undefined ? undefined : new Set(published.columns);
  const columns = attributes.rows
    .filter((a) => listed === undefined || listed.has(a.name))
    .map((a) => ({ name: a.name, typeOid: Number(a.type) }));
  const primaryKey = await indexColumns(client, oid, 'primary');
  const identityIndex = row.identity === 'i' ? await indexColumns(client, oid, 'identity') : [];
  const identityColumns =
    row.identity === 'd'
      ? primaryKey
      : row.identity === 'i'
        ? identityIndex
        : row.identity === 'f'
          ? columns.map((c) => c.name)
          : [];
  return {
    definition: { schema, table, columns, identity: row.identity, identityColumns, primaryKey },
    indexColumns: row.identity === 'i' ? identityIndex : primaryKey,
    rowFilter: published?.rowfilter ?? null,
    rowsPerPage: row.reltuples > 0 && row.relpages > 0 ? row.reltuples / row.relpages : null,
  };
}
