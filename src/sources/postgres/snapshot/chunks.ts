import pg from 'pg';
import Cursor from 'pg-cursor';
import type { ChangeEvent } from '../../../core/event.js';
import { errorMessage } from '../../../core/errors.js';
import { isTransient } from '../errors.js';
import { quoteIdent } from '../protocol/replication.js';
import { lookUpTable } from '../schema/catalog.js';
import type { EventFactory, EventOrigin } from '../schema/events.js';
import { Table } from '../schema/table.js';
import type { TypeRegistry } from '../schema/values.js';
import { SqlConditionError, checkCondition } from './condition.js';
import type { ChunkCursor } from './store.js';

/**
 * Values exactly as PostgreSQL's output functions write them, the text pgoutput sends too: no
 * parsing by node-postgres, and no `::text` casts, which differ for some types (bool::text is "true"
 * where the output is "t"; inet, char(n)).
 */
const RAW_TEXT = { getTypeParser: () => (text: string) => text };

/** How a snapshot or backfill reads one table: which rows, in which chunks, mapped how. */
export interface ReadPlan {
  /** Decodes rows and keys exactly as the stream does. */
  table: Table;
  /** Columns chunks are ordered by, in index order; empty: the table has no key and is read by ctid. */
  cursorColumns: readonly string[];
  /** SQL conditions every row read must meet (the publication's row filter, an operator's condition). */
  filters: readonly string[];
  /** pg_class estimates, for sizing ctid chunks. */
  rowsPerPage: number | null;
}

export interface QueryText {
  text: string;
  values: string[];
}

/**
 * The plan for reading `name`: the table as pgoutput sends it (the catalog's view, see
 * schema/catalog.ts) and the rows an operator's `where` (checked to be one condition) leaves.
 */
export async function planRead(
  client: pg.Client,
  name: string,
  types: TypeRegistry,
  options: {
    publications: readonly string[] | undefined;
    requirePublished: boolean;
    where?: string | undefined;
  },
): Promise<ReadPlan> {
  const where = options.where === undefined ? undefined : checkCondition(options.where);
  const entry = await lookUpTable(client, name, options);
  return {
    table: new Table(entry.definition, types),
    cursorColumns: entry.indexColumns,
    filters: [entry.rowFilter, where].filter((f): f is string => !!f),
    rowsPerPage: entry.rowsPerPage,
  };
}

function relation(plan: ReadPlan): string {
  return `${quoteIdent(plan.table.schema)}.${quoteIdent(plan.table.table)}`;
}

/** The published columns, then what chunks continue from: the key columns, or ctid. */
function selectList(plan: ReadPlan): string {
  const columns = plan.table.columns.map(quoteIdent);
  const cursor = plan.cursorColumns.length > 0 ? plan.cursorColumns.map(quoteIdent) : ['ctid'];
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
export function keysetChunk(plan: ReadPlan, after: readonly string[] | null, limit: number): QueryText {
  const keys = plan.cursorColumns.map(quoteIdent);
  const conditions = [...plan.filters];
  if (after !== null) {
    const params = after.map((_, i) => `$${i + 1}`);
    conditions.push(
      keys.length === 1 ? `${keys[0]} > ${params[0]}` : `(${keys.join(', ')}) > (${params.join(', ')})`,
    );
  }
  return {
    text: `SELECT ${selectList(plan)} FROM ${relation(plan)}${where(conditions)} ORDER BY ${keys.join(', ')} LIMIT ${limit}`,
    values: after === null ? [] : [...after],
  };
}

/** The rows of heap blocks [from, to) (a TID range scan); `to` undefined reads to the end. */
export function ctidChunk(plan: ReadPlan, from: number, to: number | undefined): QueryText {
  const conditions = [...plan.filters, `ctid >= $1::tid`];
  const values = [`(${from},0)`];
  if (to !== undefined) {
    conditions.push(`ctid < $2::tid`);
    values.push(`(${to},0)`);
  }
  return { text: `SELECT ${selectList(plan)} FROM ${relation(plan)}${where(conditions)}`, values };
}

/** The planner's row estimate for the rows a snapshot of `plan` reads. */
export function estimateQuery(plan: ReadPlan): string {
  return `EXPLAIN (FORMAT JSON) SELECT 1 FROM ${relation(plan)}${where(plan.filters)}`;
}

/**
 * The planner's estimate of the rows to read. Planning is where PostgreSQL first sees an operator's
 * condition: one it refuses (not boolean, unknown column, bad syntax) is a SqlConditionError.
 */
export async function estimateRows(client: pg.Client, plan: ReadPlan): Promise<number | null> {
  let result: pg.QueryResult<{ 'QUERY PLAN': [{ Plan: { 'Plan Rows': number } }] }>;
  try {
    result = await client.query({ text: estimateQuery(plan), queryMode: 'extended' });
  } catch (error) {
    if (plan.filters.length === 0 || !(error instanceof pg.DatabaseError) || isTransient(error)) throw error;
    const refused = `PostgreSQL refuses it for ${plan.table.name}: ${errorMessage(error)}`;
    throw new SqlConditionError(plan.filters.join(' AND '), refused);
  }
  const rows = result.rows[0]?.['QUERY PLAN'][0]?.Plan['Plan Rows'];
  return typeof rows === 'number' ? Math.round(rows) : null;
}

/**
 * Runs `work` in a READ ONLY transaction: what a snapshot or backfill plans or reads outside its
 * REPEATABLE READ chunks (plans, estimates) cannot write either.
 */
export async function readOnly<T>(client: pg.Client, work: () => Promise<T>): Promise<T> {
  await client.query('BEGIN READ ONLY');
  try {
    return await work();
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
  }
}

/**
 * Turns the raw text rows of a chunk query into events (action "snapshot") with the stream's value
 * mapping. Event ids are `idPrefix` and the row's cursor columns as JSON (or its ctid).
 */
export class ChunkConverter {
  private readonly keyed: boolean;
  private readonly cursorWidth: number;

  constructor(
    private readonly plan: ReadPlan,
    private readonly events: EventFactory,
    private readonly idPrefix: string,
  ) {
    this.keyed = plan.cursorColumns.length > 0;
    this.cursorWidth = Math.max(1, plan.cursorColumns.length);
  }

  /** The cursor columns (key values, or ctid) at the end of a raw row. */
  cursorOf(raw: readonly (string | null)[]): string[] {
    return raw.slice(raw.length - this.cursorWidth) as string[];
  }

  /** `origin`: the read's LSN and time (snapshot: when it began; backfill: the chunk's read). */
  convert(rows: readonly (string | null)[][], origin: EventOrigin): { events: ChangeEvent[]; bytes: number } {
    const events: ChangeEvent[] = new Array<ChangeEvent>(rows.length);
    let bytes = 0;
    const width = this.plan.table.columns.length;
    for (let r = 0; r < rows.length; r++) {
      const raw = rows[r]!;
      let size = 200;
      for (let i = 0; i < width; i++) size += 2 * (raw[i]?.length ?? 0) + 16;
      const cursor = this.cursorOf(raw);
      const id = this.idPrefix + (this.keyed ? JSON.stringify(cursor) : cursor[0]!);
      events[r] = this.events.row(id, origin, this.plan.table, this.plan.table.decode(raw).row);
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

/** Part of a chunk's rows, read as the sinks take them. */
export interface Portion {
  rows: (string | null)[][];
  /** Set on a chunk's last portion: where the chunk after it starts. */
  chunkEnd?: ChunkEnd;
}

export interface ChunkEnd {
  /** Where the chunk after this one starts. */
  cursor: ChunkCursor;
  /** Rows in the chunk. */
  rows: number;
  /** No rows come after this chunk. */
  last: boolean;
}

/** Where a table's chunks start and end: keyset pages, or heap block ranges. */
interface Pager {
  /** The query for the next chunk. */
  query(): QueryText;
  /** Takes note of a portion of the chunk's rows, in order. */
  saw(rows: readonly (string | null)[][]): void;
  /** The chunk read has `rows` rows: where the next starts. */
  end(rows: number): ChunkEnd;
}

/**
 * Reads a table in chunks from `cursor`: keyset pages of `limit` rows in key order, or ranges of
 * heap blocks sized to about `limit` rows for a table without a key. Each chunk's query is read
 * through a portal `portion` rows at a time (the sinks' batch), and the next portion is asked for
 * while the caller converts and hands out the current one. Read whole, a 10,000-row page waited for
 * its last row to be delivered, long enough for V8 to copy its rows into the old generation: a
 * 1M-row snapshot promoted about 300 MB, and peaked near 180 MB RSS (measured).
 */
export async function* readChunks(
  client: pg.Client,
  plan: ReadPlan,
  converter: ChunkConverter,
  cursor: ChunkCursor,
  limit: number,
  portion: number,
): AsyncGenerator<Portion> {
  const pager: Pager =
    plan.cursorColumns.length > 0
      ? new KeysetPager(plan, converter, limit, keyAfter(cursor))
      : await CtidPager.open(client, plan, limit, typeof cursor === 'number' ? cursor : 0);
  // pg-cursor leaves a read unsettled when the connection ends between a portal's last row and its
  // close (its error handler returns once the portal is closing): the read is raced with the end.
  const ended = Promise.withResolvers<never>();
  const onEnd = () => ended.reject(new Error('Connection terminated while reading a snapshot chunk'));
  ended.promise.catch(() => undefined);
  client.once('end', onEnd);
  try {
    for (;;) {
      const query = pager.query();
      const portal = client.query(
        new Cursor<(string | null)[]>(query.text, query.values, { rowMode: 'array', types: RAW_TEXT }),
      );
      let read = 0;
      let next = portal.read(portion);
      for (;;) {
        const rows = await Promise.race([next, ended.promise]);
        read += rows.length;
        pager.saw(rows);
        // A portion short of `portion` rows is the portal's last: it is closed.
        if (rows.length < portion) {
          const chunkEnd = pager.end(read);
          yield { rows, chunkEnd };
          if (chunkEnd.last) return;
          break;
        }
        next = portal.read(portion);
        // Rejections surface at the await above; this keeps one from going unhandled meanwhile.
        next.catch(() => undefined);
        yield { rows };
      }
    }
  } finally {
    client.off('end', onEnd);
  }
}

class KeysetPager implements Pager {
  constructor(
    private readonly plan: ReadPlan,
    private readonly converter: ChunkConverter,
    private readonly limit: number,
    private after: readonly string[] | null,
  ) {}

  query(): QueryText {
    return keysetChunk(this.plan, this.after, this.limit);
  }

  saw(rows: readonly (string | null)[][]): void {
    if (rows.length > 0) this.after = this.converter.cursorOf(rows[rows.length - 1]!);
  }

  end(rows: number): ChunkEnd {
    return { cursor: this.after, rows, last: rows < this.limit };
  }
}

/**
 * Heap block ranges for tables without a key. A snapshot sees every row version it can see in a
 * block below the relation's size when it starts reading (tables only grow while a snapshot holds
 * back vacuum), so ranges up to there cover the table; the last range is open-ended anyway.
 */
class CtidPager implements Pager {
  private constructor(
    private readonly plan: ReadPlan,
    private readonly limit: number,
    private block: number,
    private readonly blocks: number,
    private span: number,
  ) {}

  static async open(client: pg.Client, plan: ReadPlan, limit: number, from: number): Promise<CtidPager> {
    const size = await client.query<{ blocks: string }>(
      `SELECT (pg_relation_size($1::regclass) / current_setting('block_size')::int)::int8 AS blocks`,
      [relation(plan)],
    );
    const span = Math.max(1, Math.floor(limit / (plan.rowsPerPage ?? 100)));
    return new CtidPager(plan, limit, from, Number(size.rows[0]!.blocks), span);
  }

  query(): QueryText {
    return ctidChunk(this.plan, this.block, this.last() ? undefined : this.block + this.span);
  }

  saw(): void {}

  end(rows: number): ChunkEnd {
    const last = this.last();
    this.block += this.span;
    // Aim the next range at `limit` rows, from the density this one had.
    this.span = Math.max(
      1,
      Math.min(this.span * 4, Math.round((this.span * this.limit) / Math.max(1, rows))),
    );
    return { cursor: this.block, rows, last };
  }

  private last(): boolean {
    return this.block + this.span >= this.blocks;
  }
}
