import type Database from 'better-sqlite3';
import type { StateStore } from '../../../state/store.js';
import type { StateFilePositions, StreamPosition } from '../positions.js';
import {
  type ChunkCursor,
  INITIAL_RUN,
  type RunMode,
  type SnapshotStore,
  type StoredRun,
  type TableRun,
  tableRunOf,
} from './store.js';

/** Snapshot and backfill progress of one source in the state file (table snapshot_progress). */
export class StateFileSnapshots implements SnapshotStore {
  private readonly db: Database.Database;

  constructor(
    private readonly state: StateStore,
    private readonly source: string,
    /** Where completeInitial stores the stream's position. */
    private readonly positions: StateFilePositions,
  ) {
    this.db = state.database;
  }

  initial(): Promise<TableRun[]> {
    return Promise.resolve(this.runs('run = ?', INITIAL_RUN));
  }

  beginInitial(mode: 'initial' | 'initial_only', lsn: string, tables: readonly string[]): Promise<void> {
    return this.transaction(() => {
      this.db
        .prepare('DELETE FROM snapshot_progress WHERE source = ? AND run = ?')
        .run(this.source, INITIAL_RUN);
      for (const table of tables) this.insert(INITIAL_RUN, table, mode, lsn, null);
    });
  }

  saveChunk(run: string, table: string, cursor: ChunkCursor, rowsDone: number): Promise<void> {
    return this.transaction(() =>
      this.db
        .prepare(
          `UPDATE snapshot_progress SET last_key = ?, rows_done = ?, state = 'running', updated_at = ?
          WHERE source = ? AND run = ? AND table_name = ?`,
        )
        .run(JSON.stringify(cursor), rowsDone, now(), this.source, run, table),
    );
  }

  finishTable(
    run: string,
    table: string,
    rowsDone: number,
    state: 'done' | 'failed' = 'done',
  ): Promise<void> {
    return this.transaction(() =>
      this.db
        .prepare(
          `UPDATE snapshot_progress SET rows_done = ?, state = ?, updated_at = ?
          WHERE source = ? AND run = ? AND table_name = ?`,
        )
        .run(rowsDone, state, now(), this.source, run, table),
    );
  }

  completeInitial(position: StreamPosition | undefined): Promise<void> {
    return this.transaction(() => {
      this.db
        .prepare(`UPDATE snapshot_progress SET state = 'done', updated_at = ? WHERE source = ? AND run = ?`)
        .run(now(), this.source, INITIAL_RUN);
      if (position !== undefined) this.positions.writeInTransaction(position);
    });
  }

  backfills(): Promise<TableRun[]> {
    return Promise.resolve(this.runs('run <> ?', INITIAL_RUN));
  }

  beginBackfill(id: string, table: string, where: string | null): Promise<void> {
    return this.transaction(() => {
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

  /**
   * Statements as one write of the state file, resolved once it is on disk (the fsync off the event
   * loop); rejects with a StateFailure when it cannot be written.
   */
  private async transaction(change: () => void): Promise<void> {
    await this.state.writeSynced(() => this.db.transaction(change)());
  }

  private runs(condition: string, run: string): TableRun[] {
    return this.db
      .prepare<[string, string], StoredRun>(
        `SELECT * FROM snapshot_progress WHERE source = ? AND ${condition} ORDER BY started_at, rowid`,
      )
      .all(this.source, run)
      .map(tableRunOf);
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
