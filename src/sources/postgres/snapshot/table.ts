import type pg from 'pg';
import type { ChangeEvent, Row } from '../../../core/event.js';
import { qualify } from '../config.js';
import { errorMessage } from '../../../core/errors.js';
import { SqlConditionError, checkCondition } from './condition.js';
import { PostgresSourceError, isTransient } from '../errors.js';
import { quoteIdent } from '../protocol/replication.js';
import type { ChunkCursor } from './store.js';
import type { Converter, TypeRegistry } from '../schema/values.js';

/**
 * Values exactly as PostgreSQL's output functions write them, the text pgoutput sends too: no
 * parsing by node-postgres, and no `::text` casts, which differ for some types (bool::text is "true"
 * where the output is "t"; inet, char(n)).
 */
const RAW_TEXT = { getTypeParser: () => (text: string) => text };

/** What a snapshot needs to know about one table. */
export interface TableShape {
  schema: string;
  table: string;
  /** Published columns in table order (a publication's column list, if any), with their type OIDs. */
  columns: readonly { name: string; typeOid: number }[];
  /** Columns chunks are ordered by, in index order; empty: the table has no key and is read by ctid. */
  keyColumns: readonly string[];
  /** The event's `key` columns, in the order the stream's events name them; empty: `key` is null. */
  eventKey: readonly string[];
  /** SQL conditions every row read must meet (the publication's row filter, snapshot_where). */
  filters: readonly string[];
  /** pg_class estimates, for sizing ctid chunks. */
  rowsPerPage: number | null;
}

export interface QueryText {
  text: string;
  values: string[];
}

export function qualifiedName(shape: Pick<TableShape, 'schema' | 'table'>): string {
  return `${shape.schema}.${shape.table}`;
}

function relation(shape: TableShape): string {
  return `${quoteIdent(shape.schema)}.${quoteIdent(shape.table)}`;
}

/** The published columns, then what chunks continue from: the key columns, or ctid. */
function selectList(shape: TableShape): string {
  const columns = shape.columns.map((c) => quoteIdent(c.name));
  const cursor = shape.keyColumns.length > 0 ? shape.keyColumns.map(quoteIdent) : ['ctid'];
  return [...columns, ...cursor].join(', ');
}

function where(conditions: readonly string[]): string {
  return conditions.length === 0 ? '' : ` WHERE ${conditions.map((c) => `(${c})`).join(' AND ')}`;
}

/** The key a keyset cursor continues after; null from the beginning. */
export function keyAfter(cursor: ChunkCursor): readonly string[] | null {
  return Array.isArray(cursor) ? (cursor as readonly string[]) : null;
}

/** The next `limit` rows in key order after `after` (keyset pagination: an index range scan). */
export function keysetChunk(shape: TableShape, after: readonly string[] | null, limit: number): QueryText {
  const keys = shape.keyColumns.map(quoteIdent);
  const conditions = [...shape.filters];
  if (after !== null) {
    const params = after.map((_, i) => `$${i + 1}`);
    conditions.push(
      keys.length === 1 ? `${keys[0]} > ${params[0]}` : `(${keys.join(', ')}) > (${params.join(', ')})`,
    );
  }
  return {
    text: `SELECT ${selectList(shape)} FROM ${relation(shape)}${where(conditions)} ORDER BY ${keys.join(', ')} LIMIT ${limit}`,
    values: after === null ? [] : [...after],
  };
}

/** The rows of heap blocks [from, to) (a TID range scan); `to` undefined reads to the end. */
export function ctidChunk(shape: TableShape, from: number, to: number | undefined): QueryText {
  const conditions = [...shape.filters, `ctid >= $1::tid`];
  const values = [`(${from},0)`];
  if (to !== undefined) {
    conditions.push(`ctid < $2::tid`);
    values.push(`(${to},0)`);
  }
  return { text: `SELECT ${selectList(shape)} FROM ${relation(shape)}${where(conditions)}`, values };
}

/** The planner's row estimate for the rows a snapshot of `shape` reads. */
export function estimateQuery(shape: TableShape): string {
  return `EXPLAIN (FORMAT JSON) SELECT 1 FROM ${relation(shape)}${where(shape.filters)}`;
}

export class SnapshotTableError extends PostgresSourceError {
  constructor(message: string) {
    super('PGRELAY_PG_SNAPSHOT_TABLE', message);
  }
}

/**
 * Reads a table's shape: its columns as pgoutput sends them (a publication's column list; generated
 * columns left out), the key the stream's events carry (primary key, or the replica identity index)
 * and the publication's row filter. `publication` undefined: the table need not be published.
 */
export async function loadShape(
  client: pg.Client,
  name: string,
  options: { publication: string | undefined; requirePublished: boolean; where?: string },
): Promise<TableShape> {
  const qualified = qualify(name);
  const dot = qualified.indexOf('.');
  const schema = qualified.slice(0, dot);
  const table = qualified.slice(dot + 1);
  const found = await client.query<{
    oid: string;
    identity: string;
    key_columns: string[];
    reltuples: number;
    relpages: number;
  }>(
    `SELECT c.oid::int8 AS oid, c.relreplident AS identity, c.reltuples::float8 AS reltuples, c.relpages,
            ARRAY(SELECT a.attname::text FROM pg_index i
                    CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
                    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                   WHERE i.indrelid = c.oid
                     AND CASE WHEN c.relreplident = 'i' THEN i.indisreplident ELSE i.indisprimary END
                   ORDER BY k.n) AS key_columns
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')`,
    [schema, table],
  );
  const row = found.rows[0];
  if (row === undefined) throw new SnapshotTableError(`table ${qualified} does not exist`);
  const published =
    options.publication === undefined
      ? undefined
      : (
          await client.query<{ columns: string[]; rowfilter: string | null }>(
            `SELECT attnames::text[] AS columns, rowfilter FROM pg_publication_tables
              WHERE pubname = $1 AND schemaname = $2 AND tablename = $3`,
            [options.publication, schema, table],
          )
        ).rows[0];
  if (published === undefined && options.requirePublished) {
    throw new SnapshotTableError(
      `table ${qualified} is not in publication "${options.publication}": its changes are not streamed`,
    );
  }
  const attributes = await client.query<{ name: string; type: string }>(
    `SELECT attname::text AS name, atttypid::int8 AS type FROM pg_attribute
      WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum`,
    [row.oid],
  );
  const listed = published === undefined ? undefined : new Set(published.columns);
  const columns = attributes.rows
    .filter((a) => listed === undefined || listed.has(a.name))
    .map((a) => ({ name: a.name, typeOid: Number(a.type) }));
  const names = columns.map((c) => c.name);
  const keys = new Set(row.key_columns);
  // The stream names identity columns in table order, and a FULL/NOTHING identity's primary key in
  // index order (relation.ts): the same JSON for the same row.
  const eventKey =
    row.identity === 'd' || row.identity === 'i'
      ? names.filter((n) => keys.has(n))
      : row.key_columns.filter((n) => names.includes(n));
  const where = options.where === undefined ? undefined : checkCondition(options.where);
  const filters = [published?.rowfilter, where].filter((f): f is string => !!f);
  return {
    schema,
    table,
    columns,
    keyColumns: row.key_columns,
    eventKey,
    filters,
    rowsPerPage: row.reltuples > 0 && row.relpages > 0 ? row.reltuples / row.relpages : null,
  };
}

/**
 * The planner's estimate of the rows to read. Planning is where PostgreSQL first sees an operator's
 * condition: one it refuses (not boolean, unknown column, bad syntax) is a SqlConditionError.
 */
export async function estimateRows(client: pg.Client, shape: TableShape): Promise<number | null> {
  let result: pg.QueryResult<{ 'QUERY PLAN': [{ Plan: { 'Plan Rows': number } }] }>;
  try {
    result = await client.query({ text: estimateQuery(shape), queryMode: 'extended' });
  } catch (error) {
    if (shape.filters.length === 0 || isTransient(error)) throw error;
    const refused = `PostgreSQL refuses it for ${qualifiedName(shape)}: ${errorMessage(error)}`;
    throw new SqlConditionError(shape.filters.join(' AND '), refused);
  }
  const rows = result.rows[0]?.['QUERY PLAN'][0]?.Plan['Plan Rows'];
  return typeof rows === 'number' ? Math.round(rows) : null;
}

/**
 * Runs `work` in a READ ONLY transaction: what a snapshot or backfill plans or reads outside its
 * REPEATABLE READ chunks (shapes, estimates) cannot write either.
 */
export async function readOnly<T>(client: pg.Client, work: () => Promise<T>): Promise<T> {
  await client.query('BEGIN READ ONLY');
  try {
    return await work();
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
  }
}

/** The fields every snapshot event of a table shares. */
export interface EventBase {
  source: string;
  host: string;
  database: string;
  lsn: string;
  /** The time of the snapshot the rows were read in, as `commit_time` (README "Event format"). */
  commitTime: string;
  /** Event ids are this prefix and the row's key (or ctid) as JSON. */
  idPrefix: string;
}

/** Rows of one chunk as events, and where the next chunk starts. */
export interface Chunk {
  events: ChangeEvent[];
  /** Approximate memory, for the sinks' buffer limits. */
  bytes: number;
  /** Where the chunk after this one starts. */
  cursor: ChunkCursor;
  /** No rows come after this chunk. */
  last: boolean;
}

/** Turns raw text rows of a chunk query into snapshot events with the stream's value mapping. */
export class RowConverter {
  private readonly converters: Converter[];
  private readonly names: string[];
  private readonly eventKey: readonly string[];
  private readonly keyed: boolean;
  private readonly cursorWidth: number;

  constructor(
    private readonly shape: TableShape,
    types: TypeRegistry,
  ) {
    this.names = shape.columns.map((c) => c.name);
    this.converters = shape.columns.map((c) => types.converter(c.typeOid));
    this.eventKey = shape.eventKey;
    this.keyed = shape.keyColumns.length > 0;
    this.cursorWidth = Math.max(1, shape.keyColumns.length);
  }

  /** The cursor columns (key values, or ctid) at the end of a raw row. */
  cursorOf(raw: readonly (string | null)[]): string[] {
    return raw.slice(raw.length - this.cursorWidth) as string[];
  }

  convert(rows: readonly (string | null)[][], base: EventBase): { events: ChangeEvent[]; bytes: number } {
    const events: ChangeEvent[] = new Array<ChangeEvent>(rows.length);
    let bytes = 0;
    const count = this.names.length;
    for (let r = 0; r < rows.length; r++) {
      const raw = rows[r]!;
      const columns: Row = {};
      let size = 200;
      for (let i = 0; i < count; i++) {
        const text = raw[i];
        if (text === null || text === undefined) columns[this.names[i]!] = null;
        else {
          columns[this.names[i]!] = this.converters[i]!(text);
          size += 2 * text.length + 16;
        }
      }
      let key: Row | null = null;
      if (this.eventKey.length > 0) {
        key = {};
        for (const name of this.eventKey) key[name] = columns[name] ?? null;
      }
      const cursor = this.cursorOf(raw);
      events[r] = {
        id: base.idPrefix + (this.keyed ? JSON.stringify(cursor) : cursor[0]!),
        source: base.source,
        host: base.host,
        database: base.database,
        schema: this.shape.schema,
        table: this.shape.table,
        action: 'snapshot',
        lsn: base.lsn,
        xid: null,
        commit_time: base.commitTime,
        key,
        columns,
        old: null,
        unchanged_toast: [],
      };
      bytes += size;
    }
    return { events, bytes };
  }
}

/**
 * Runs a chunk query, always with the extended query protocol (one statement, never several);
 * rows as arrays of raw text.
 */
export async function queryRows(client: pg.Client, query: QueryText): Promise<(string | null)[][]> {
  const result = await client.query<(string | null)[]>({
    text: query.text,
    values: query.values,
    queryMode: 'extended',
    rowMode: 'array',
    types: RAW_TEXT,
  });
  return result.rows;
}

/**
 * Reads a table in chunks from `cursor`: keyset pages of `limit` rows in key order, or ranges of
 * heap blocks sized to about `limit` rows for a table without a key. The next chunk's query runs
 * in PostgreSQL while the caller converts and hands out the current one.
 */
export async function* readChunks(
  client: pg.Client,
  shape: TableShape,
  converter: RowConverter,
  base: EventBase,
  cursor: ChunkCursor,
  limit: number,
): AsyncGenerator<Chunk> {
  const pager =
    shape.keyColumns.length > 0
      ? new KeysetPager(shape, converter, limit, keyAfter(cursor))
      : await CtidPager.open(client, shape, limit, typeof cursor === 'number' ? cursor : 0);
  let next: Promise<Page> | undefined = pager.fetch(client);
  while (next !== undefined) {
    const page: Page = await next;
    next = page.last ? undefined : pager.fetch(client);
    // Rejections surface at the await above; this keeps one from going unhandled meanwhile.
    next?.catch(() => undefined);
    const { events, bytes } = converter.convert(page.rows, base);
    yield { events, bytes, cursor: page.cursor, last: page.last };
  }
}

interface Page {
  rows: (string | null)[][];
  cursor: ChunkCursor;
  last: boolean;
}

class KeysetPager {
  constructor(
    private readonly shape: TableShape,
    private readonly converter: RowConverter,
    private readonly limit: number,
    private after: readonly string[] | null,
  ) {}

  /** The next page; the cursor moves as soon as it is known, so the page after can be asked for. */
  async fetch(client: pg.Client): Promise<Page> {
    const rows = await queryRows(client, keysetChunk(this.shape, this.after, this.limit));
    if (rows.length > 0) this.after = this.converter.cursorOf(rows[rows.length - 1]!);
    return { rows, cursor: this.after, last: rows.length < this.limit };
  }
}

/**
 * Heap block ranges for tables without a key. A snapshot sees every row version it can see in a
 * block below the relation's size when it starts reading (tables only grow while a snapshot holds
 * back vacuum), so ranges up to there cover the table; the last range is open-ended anyway.
 */
class CtidPager {
  private constructor(
    private readonly shape: TableShape,
    private readonly limit: number,
    private block: number,
    private readonly blocks: number,
    private span: number,
  ) {}

  static async open(client: pg.Client, shape: TableShape, limit: number, from: number): Promise<CtidPager> {
    const size = await client.query<{ blocks: string }>(
      `SELECT (pg_relation_size($1::regclass) / current_setting('block_size')::int)::int8 AS blocks`,
      [`${quoteIdent(shape.schema)}.${quoteIdent(shape.table)}`],
    );
    const span = Math.max(1, Math.floor(limit / (shape.rowsPerPage ?? 100)));
    return new CtidPager(shape, limit, from, Number(size.rows[0]!.blocks), span);
  }

  async fetch(client: pg.Client): Promise<Page> {
    const from = this.block;
    const last = from + this.span >= this.blocks;
    const to = last ? undefined : from + this.span;
    this.block = from + this.span;
    const rows = await queryRows(client, ctidChunk(this.shape, from, to));
    // Aim the next range at `limit` rows, from the density this one had.
    this.span = Math.max(
      1,
      Math.min(this.span * 4, Math.round((this.span * this.limit) / Math.max(1, rows.length))),
    );
    return { rows, cursor: this.block, last };
  }
}
