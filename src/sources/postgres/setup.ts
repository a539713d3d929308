import type pg from 'pg';
import type { Logger } from 'pino';
import { errorCode, errorMessage } from '../../core/errors.js';
import * as errors from './errors.js';
import { type Lsn, lsnToBigInt } from '../../core/lsn.js';
import { literal, quoteIdent } from './protocol/replication.js';

export interface SlotState {
  /** The slot's confirmed_flush_lsn: where decoding resumes when we name no later position. */
  confirmed: Lsn;
  created: boolean;
}

/** A slot created together with a snapshot of the database as of its consistent point. */
export interface ExportedSlot {
  /** Where decoding of the new slot starts: the snapshot holds every transaction committed before it. */
  consistentPoint: Lsn;
  /** For SET TRANSACTION SNAPSHOT; valid while the creating connection stays open and idle. */
  snapshotName: string;
}

export interface SetupOptions {
  source: string;
  slot: string;
  createSlot: boolean;
  /** The stored position, if pgrelay has streamed from this slot before. */
  stored: Lsn | undefined;
  storedText: string | undefined;
}

/** Decoding needs wal_level = logical: a named failure otherwise, before anything is created. */
export async function checkWalLevel(client: pg.Client, source: string): Promise<void> {
  const level = (await client.query<{ wal_level: string }>('SHOW wal_level')).rows[0]!.wal_level;
  if (level !== 'logical') throw errors.walLevel(source, level);
}

/** The slot, checked and created (at the server's current position) when missing and allowed. */
export async function ensureSlot(client: pg.Client, options: SetupOptions, log: Logger): Promise<SlotState> {
  const existing = await findSlot(client, options);
  if (existing !== undefined) return existing;
  const { source, slot } = options;
  checkCreatable(options);
  try {
    const created = await client.query<{ lsn: string }>(
      `SELECT lsn::text AS lsn FROM pg_create_logical_replication_slot(${literal(slot)}, 'pgoutput')`,
    );
    log.info({ slot, lsn: created.rows[0]!.lsn }, `created replication slot "${slot}"`);
    return { confirmed: lsnToBigInt(created.rows[0]!.lsn), created: true };
  } catch (error) {
    throw slotCreationError(source, slot, error);
  }
}

/**
 * Creates the slot over a replication connection and exports a snapshot taken at its consistent
 * point: the snapshot holds every transaction committed before it, the slot decodes every one after.
 */
export async function createSlotWithSnapshot(
  replication: pg.Client,
  options: SetupOptions,
  log: Logger,
): Promise<ExportedSlot> {
  const { source, slot } = options;
  checkCreatable(options);
  try {
    const result = await replication.query<{ consistent_point: string; snapshot_name: string }>(
      `CREATE_REPLICATION_SLOT ${quoteIdent(slot)} LOGICAL pgoutput (SNAPSHOT 'export')`,
    );
    const row = result.rows[0]!;
    log.info(
      { slot, lsn: row.consistent_point, snapshot: row.snapshot_name },
      `created replication slot "${slot}" with a snapshot at ${row.consistent_point}`,
    );
    return { consistentPoint: lsnToBigInt(row.consistent_point), snapshotName: row.snapshot_name };
  } catch (error) {
    throw slotCreationError(source, slot, error);
  }
}

function checkCreatable(options: SetupOptions): void {
  if (options.stored !== undefined)
    throw errors.slotMissing(options.source, options.slot, options.storedText!);
  if (!options.createSlot) throw errors.slotNotFound(options.source, options.slot);
}

function slotCreationError(source: string, slot: string, error: unknown): unknown {
  if (errorCode(error) === '42501')
    return errors.permissionDenied(
      source,
      `cannot create replication slot "${slot}": ${errorMessage(error)}`,
      error,
    );
  return error;
}

/** The slot when it exists and pgrelay can stream from it; undefined when it does not exist. */
export async function findSlot(client: pg.Client, options: SetupOptions): Promise<SlotState | undefined> {
  const { source, slot } = options;
  const found = await client.query<{
    plugin: string;
    active_pid: number | null;
    confirmed: string | null;
    database: string;
    current: string;
    wal_status: string | null;
  }>(
    `SELECT plugin, active_pid, confirmed_flush_lsn::text AS confirmed, database, current_database() AS current,
            wal_status FROM pg_replication_slots WHERE slot_name = $1`,
    [slot],
  );
  const row = found.rows[0];
  if (row === undefined) return undefined;
  if (row.plugin !== 'pgoutput') throw errors.slotWrongPlugin(source, slot, row.plugin);
  if (row.database !== row.current) {
    throw new errors.PostgresSourceError(
      'PGRELAY_PG_SLOT_DATABASE',
      `source ${source}: replication slot "${slot}" belongs to database "${row.database}", not "${row.current}"`,
    );
  }
  if (row.wal_status === 'lost' || row.confirmed === null) throw errors.slotInvalidated(source, slot);
  if (row.active_pid !== null) throw errors.slotInUse(source, slot, row.active_pid);
  const confirmed = lsnToBigInt(row.confirmed);
  if (options.stored !== undefined && confirmed > options.stored) {
    throw errors.slotAhead(source, slot, row.confirmed, options.storedText!);
  }
  return { confirmed, created: false };
}

/** Primary-key columns of a table, for tables whose replica identity does not name them (FULL, NOTHING). */
export async function primaryKey(client: pg.Client, relationId: number): Promise<string[]> {
  const result = await client.query<{ attname: string }>(
    `SELECT a.attname FROM pg_index i
       JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) ON true
       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
      WHERE i.indrelid = $1 AND i.indisprimary ORDER BY k.n`,
    [relationId],
  );
  return result.rows.map((r) => r.attname);
}
