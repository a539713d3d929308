import type pg from 'pg';
import type { SlotLease } from '../lease.js';
import type { StreamPosition } from '../positions.js';
import { SNAPSHOTS_TABLE } from '../shared-tables.js';
import {
  type ChunkCursor,
  INITIAL_RUN,
  type RunMode,
  type SnapshotStore,
  type StoredRun,
  type TableRun,
  tableRunOf,
} from './store.js';

/**
 * Snapshot and backfill progress of a source with standby = true, in its database beside the
 * slot's position (table pgrelay.snapshot_progress, one row per slot, run and table), so the
 * instance taking the slot over continues the snapshot and the backfills where the last holder's
 * acknowledged chunks end. Read and written on the lease's position session only: a write that
 * succeeds was made while this instance held the lease, and an instance fenced off writes nothing.
 */
export class SourceDatabaseSnapshots implements SnapshotStore {
  constructor(
    private readonly lease: SlotLease,
    private readonly source: string,
    private readonly slot: string,
  ) {}

  initial(): Promise<TableRun[]> {
    return this.runs('run = $2');
  }

  beginInitial(mode: 'initial' | 'initial_only', lsn: string, tables: readonly string[]): Promise<void> {
    return this.transaction(async (client) => {
      await client.query(`DELETE FROM ${SNAPSHOTS_TABLE} WHERE slot = $1 AND run = $2`, [
        this.slot,
        INITIAL_RUN,
      ]);
      const at = new Date().toISOString();
      for (const [ordinal, table] of tables.entries())
        await this.insert(client, { run: INITIAL_RUN, table, mode, lsn, where: null, ordinal, at });
    });
  }

  saveChunk(run: string, table: string, cursor: ChunkCursor, rowsDone: number): Promise<void> {
    return this.update(run, table, `last_key = $4, rows_done = $5, state = 'running'`, [
      JSON.stringify(cursor),
      rowsDone,
    ]);
  }

  finishTable(
    run: string,
    table: string,
    rowsDone: number,
    state: 'done' | 'failed' = 'done',
  ): Promise<void> {
    return this.update(run, table, `rows_done = $4, state = $5`, [rowsDone, state]);
  }

  completeInitial(position: StreamPosition | undefined): Promise<void> {
    return this.transaction(async (client) => {
      await client.query(
        `UPDATE ${SNAPSHOTS_TABLE} SET state = 'done', holder = $3, updated_at = now() WHERE slot = $1 AND run = $2`,
        [this.slot, INITIAL_RUN, this.lease.holder],
      );
      if (position !== undefined) await this.lease.store(client, position);
    });
  }

  backfills(): Promise<TableRun[]> {
    return this.runs('run <> $2');
  }

  beginBackfill(id: string, table: string, where: string | null): Promise<void> {
    return this.transaction(async (client) => {
      await client.query(
        `DELETE FROM ${SNAPSHOTS_TABLE} WHERE slot = $1 AND run <> $2 AND table_name = $3 AND state IN ('done', 'failed')`,
        [this.slot, INITIAL_RUN, table],
      );
      const at = new Date().toISOString();
      await this.insert(client, { run: id, table, mode: 'backfill', lsn: '', where, ordinal: 0, at });
    });
  }

  private update(run: string, table: string, set: string, values: unknown[]): Promise<void> {
    return this.lease.run(async (client) => {
      await client.query(
        `UPDATE ${SNAPSHOTS_TABLE} SET ${set}, holder = $${values.length + 4}, updated_at = now()
          WHERE slot = $1 AND run = $2 AND table_name = $3`,
        [this.slot, run, table, ...values, this.lease.holder],
      );
    });
  }

  /** Statements in one transaction on the position session (a failure ends the session: rolled back). */
  private transaction(work: (client: pg.Client) => Promise<void>): Promise<void> {
    return this.lease.run(async (client) => {
      await client.query('BEGIN');
      await work(client);
      await client.query('COMMIT');
    });
  }

  private async insert(
    client: pg.Client,
    run: {
      run: string;
      table: string;
      mode: RunMode;
      lsn: string;
      where: string | null;
      ordinal: number;
      at: string;
    },
  ): Promise<void> {
    await client.query(
      `INSERT INTO ${SNAPSHOTS_TABLE}
         (slot, run, table_name, source, mode, lsn, where_sql, state, ordinal, started_at, holder, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9, $10, now())`,
      [
        this.slot,
        run.run,
        run.table,
        this.source,
        run.mode,
        run.lsn,
        run.where,
        run.ordinal,
        run.at,
        this.lease.holder,
      ],
    );
  }

  private runs(condition: string): Promise<TableRun[]> {
    return this.lease.run(async (client) => {
      const { rows } = await client.query<StoredRun>(
        `SELECT run, table_name, mode, lsn, where_sql, last_key, rows_done::text AS rows_done, state,
                to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS started_at
           FROM ${SNAPSHOTS_TABLE} WHERE slot = $1 AND ${condition} ORDER BY started_at, ordinal`,
        [this.slot, INITIAL_RUN],
      );
      return rows.map(tableRunOf);
    });
  }
}
