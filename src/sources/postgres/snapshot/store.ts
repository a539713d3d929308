import type Database from 'better-sqlite3';
import type { StateStore } from '../../../state/store.js';

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

interface Row {
  run: string;
  table_name: string;
  mode: RunMode;
  lsn: string;
  where_sql: string | null;
  last_key: string | null;
  rows_done: number;
  state: RunState;
  started_at: string;
}

/**
 * Snapshot and backfill progress of one source in the state database: per run and table, the
 * cursor after the last chunk every sink acknowledged, so a restart continues there.
 */
export class SnapshotStore {
  private readonly db: Database.Database;

  constructor(
    private readonly state: StateStore,
    private readonly source: string,
  ) {
    this.db = state.database;
  }

  /** The initial snapshot's tables, in the order they are read; empty when none was started. */
  initial(): TableRun[] {
    return this.runs('run = ?', INITIAL_RUN);
  }

  /** Starts the initial snapshot afresh: forgets an earlier one, records its tables as pending. */
  beginInitial(mode: 'initial' | 'initial_only', lsn: string, tables: readonly string[]): void {
    this.transaction(() => {
      this.db
        .prepare('DELETE FROM snapshot_progress WHERE source = ? AND run = ?')
        .run(this.source, INITIAL_RUN);
      for (const table of tables) this.insert(INITIAL_RUN, table, mode, lsn, null);
    });
  }

  /** Records that every row of `table` up to `cursor` is acknowledged. */
  saveChunk(run: string, table: string, cursor: ChunkCursor, rowsDone: number): void {
    this.transaction(() =>
      this.db
        .prepare(
          `UPDATE snapshot_progress SET last_key = ?, rows_done = ?, state = 'running', updated_at = ?
          WHERE source = ? AND run = ? AND table_name = ?`,
        )
        .run(JSON.stringify(cursor), rowsDone, now(), this.source, run, table),
    );
  }

  finishTable(run: string, table: string, rowsDone: number, state: 'done' | 'failed' = 'done'): void {
    this.transaction(() =>
      this.db
        .prepare(
          `UPDATE snapshot_progress SET rows_done = ?, state = ?, updated_at = ?
          WHERE source = ? AND run = ? AND table_name = ?`,
        )
        .run(rowsDone, state, now(), this.source, run, table),
    );
  }

  /**
   * Marks the initial snapshot complete and, for a source that streams next, stores the position
   * the stream starts from in the same transaction: a crash leaves either both or neither.
   */
  completeInitial(position: { lsn: string; meta: Record<string, unknown> } | undefined): void {
    this.transaction(() => {
      this.db
        .prepare(`UPDATE snapshot_progress SET state = 'done', updated_at = ? WHERE source = ? AND run = ?`)
        .run(now(), this.source, INITIAL_RUN);
      if (position !== undefined) this.state.put(this.source, position.lsn, position.meta);
    });
  }

  /** Backfills of this source, oldest first. */
  backfills(): TableRun[] {
    return this.runs('run <> ?', INITIAL_RUN);
  }

  /** Records a new backfill of `table`; earlier finished backfills of that table are forgotten. */
  beginBackfill(id: string, table: string, where: string | null): void {
    this.transaction(() => {
      this.db
        .prepare(
          `DELETE FROM snapshot_progress WHERE source = ? AND run <> ? AND table_name = ? AND state IN ('done', 'failed')`,
        )
        .run(this.source, INITIAL_RUN, table);
      this.insert(id, table, 'backfill', '', where);
    });
  }

  /** Forgets every snapshot and backfill of `source` (pgrelay reset-position). */
  static forget(state: StateStore, source: string): number {
    return state.write(
      () => state.database.prepare('DELETE FROM snapshot_progress WHERE source = ?').run(source).changes,
    );
  }

  /** Statements as one write of the state file (a StateFailure when it cannot be written). */
  private transaction(change: () => void): void {
    this.state.write(() => this.db.transaction(change)());
  }

  private runs(condition: string, run: string): TableRun[] {
    return this.db
      .prepare<[string, string], Row>(
        `SELECT * FROM snapshot_progress WHERE source = ? AND ${condition} ORDER BY started_at, rowid`,
      )
      .all(this.source, run)
      .map((row) => ({
        run: row.run,
        table: row.table_name,
        mode: row.mode,
        lsn: row.lsn,
        where: row.where_sql,
        cursor: row.last_key === null ? null : (JSON.parse(row.last_key) as ChunkCursor),
        rowsDone: row.rows_done,
        state: row.state,
        startedAt: row.started_at,
      }));
  }

  private insert(run: string, table: string, mode: RunMode, lsn: string, where: string | null): void {
    const at = now();
    this.db
      .prepare(
        `INSERT INTO snapshot_progress (source, run, table_name, mode, lsn, where_sql, state, started_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)`,
      )
      .run(this.source, run, table, mode, lsn, where, at, at);
  }
}

function now(): string {
  return new Date().toISOString();
}
