import type { StreamPosition } from '../positions.js';

/** The run id of a source's initial snapshot; backfills use their own ids. */
export const INITIAL_RUN = 'initial';

export type RunMode = 'initial' | 'initial_only' | 'backfill';
export type RunState = 'pending' | 'running' | 'done' | 'failed';

/**
 * Where the next chunk of a table starts: after this key (the key columns' text forms), at this
 * heap block (tables without a key), or at the beginning (null).
 */
export type ChunkCursor = readonly string[] | number | null;

/** One table of a snapshot or backfill run, as stored. */
export interface TableRun {
  run: string;
  table: string;
  mode: RunMode;
  /** Initial snapshots: the LSN their rows carry (the consistent point). Backfills: ''. */
  lsn: string;
  where: string | null;
  /** Where the rows every sink acknowledged end. */
  cursor: ChunkCursor;
  rowsDone: number;
  state: RunState;
  /** When the run began (ISO 8601, milliseconds): the time its rows carry. */
  startedAt: string;
}

/** A stored row of snapshot progress, as both stores keep it (rows_done: PostgreSQL's int8 comes as text). */
export interface StoredRun {
  run: string;
  table_name: string;
  mode: RunMode;
  lsn: string;
  where_sql: string | null;
  last_key: string | null;
  rows_done: number | string;
  state: RunState;
  started_at: string;
}

export function tableRunOf(row: StoredRun): TableRun {
  return {
    run: row.run,
    table: row.table_name,
    mode: row.mode,
    lsn: row.lsn,
    where: row.where_sql,
    cursor: row.last_key === null ? null : (JSON.parse(row.last_key) as ChunkCursor),
    rowsDone: Number(row.rows_done),
    state: row.state,
    startedAt: row.started_at,
  };
}

/**
 * Where a source's snapshot and backfill progress is kept: per run and table, the cursor after the
 * last chunk every sink acknowledged, so a restart (or another instance taking the slot over)
 * continues there. The state file (state-file-store.ts) for a single instance; the source database
 * (database-store.ts) for sources with standby = true. A write resolves once stored and rejects
 * when it is not: the state file cannot be written (a StateError), or the slot's lease is lost.
 */
export interface SnapshotStore {
  /** The initial snapshot's tables, in the order they are read; empty when none was started. */
  initial(): Promise<TableRun[]>;
  /** Starts the initial snapshot afresh: forgets an earlier one, records its tables as pending. */
  beginInitial(mode: 'initial' | 'initial_only', lsn: string, tables: readonly string[]): Promise<void>;
  /** Records that every row of `table` up to `cursor` is acknowledged. */
  saveChunk(run: string, table: string, cursor: ChunkCursor, rowsDone: number): Promise<void>;
  finishTable(run: string, table: string, rowsDone: number, state?: 'done' | 'failed'): Promise<void>;
  /**
   * Marks the initial snapshot complete and, for a source that streams next, stores the position
   * the stream starts from in the same transaction: a crash leaves either both or neither.
   */
  completeInitial(position: StreamPosition | undefined): Promise<void>;
  /** Backfills of this source, oldest first. */
  backfills(): Promise<TableRun[]>;
  /** Records a new backfill of `table`; earlier finished backfills of that table are forgotten. */
  beginBackfill(id: string, table: string, where: string | null): Promise<void>;
}
