import type pg from 'pg';
import { errorCode, errorMessage } from '../../core/errors.js';
import { permissionDenied } from './errors.js';

/** Where the positions of sources with `standby = true` live, beside their slots (lease.ts). */
export const POSITIONS_TABLE = 'pgrelay.positions';
/** Their snapshot and backfill progress (snapshot/database-store.ts). */
export const SNAPSHOTS_TABLE = 'pgrelay.snapshot_progress';
/** Who holds each slot's lease, and since when: what the instances standing by show (lease.ts). */
export const LEASES_TABLE = 'pgrelay.leases';

interface SharedTable {
  name: string;
  /** What it keeps, for the errors. */
  keeps: string;
  create: string;
  privileges: string;
  /** Columns added after the table first shipped: added to a table an older pgrelay created. */
  added?: readonly { column: string; type: string }[];
}

const TABLES: readonly SharedTable[] = [
  {
    name: POSITIONS_TABLE,
    keeps: 'positions',
    create: `CREATE TABLE IF NOT EXISTS ${POSITIONS_TABLE} (
       slot name PRIMARY KEY,
       source text NOT NULL,
       lsn pg_lsn NOT NULL,
       transaction_lsn pg_lsn,
       delivered_events bigint,
       holder text NOT NULL,
       updated_at timestamptz NOT NULL,
       publication text
     )`,
    privileges: 'SELECT, INSERT, UPDATE',
    // The publication the source streams, recorded as the state file records it (see publicationFor).
    added: [{ column: 'publication', type: 'text' }],
  },
  {
    name: LEASES_TABLE,
    keeps: 'which instance holds a slot',
    // server_pid: the holder's position session, which holds the lock (pg_locks tells whether it still does).
    create: `CREATE TABLE IF NOT EXISTS ${LEASES_TABLE} (
       slot name PRIMARY KEY,
       holder text NOT NULL,
       server_pid int NOT NULL,
       since timestamptz NOT NULL
     )`,
    privileges: 'SELECT, INSERT, UPDATE',
  },
  {
    name: SNAPSHOTS_TABLE,
    keeps: 'snapshot and backfill progress',
    // One row per run (the initial snapshot, or a backfill's id) and table, as the state file's.
    create: `CREATE TABLE IF NOT EXISTS ${SNAPSHOTS_TABLE} (
       slot name NOT NULL,
       run text NOT NULL,
       table_name text NOT NULL,
       source text NOT NULL,
       mode text NOT NULL,
       lsn text NOT NULL,
       where_sql text,
       last_key text,
       rows_done bigint NOT NULL DEFAULT 0,
       state text NOT NULL,
       ordinal int NOT NULL,
       started_at timestamptz NOT NULL,
       holder text NOT NULL,
       updated_at timestamptz NOT NULL,
       PRIMARY KEY (slot, run, table_name)
     )`,
    privileges: 'SELECT, INSERT, UPDATE, DELETE',
  },
];

export async function tableExists(client: pg.Client, table: string): Promise<boolean> {
  const row = (await client.query<{ found: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS found`, [table]))
    .rows[0]!;
  return row.found;
}

/**
 * Creates the tables of standby sources (schema pgrelay) when they are missing, adds the columns a
 * table an older pgrelay created lacks, and checks this user may read and write them.
 */
export async function ensureSharedTables(client: pg.Client, source: string): Promise<void> {
  for (const table of TABLES) {
    const what = `${table.name} (standby = true keeps ${table.keeps} there)`;
    if (!(await tableExists(client, table.name)))
      await ddl(
        client,
        source,
        `cannot create ${what}`,
        'create it as its owner, or GRANT CREATE ON DATABASE to this user',
        async () => {
          await client.query('CREATE SCHEMA IF NOT EXISTS pgrelay');
          await client.query(table.create);
        },
      );
    for (const { column, type } of table.added ?? []) {
      if (await hasColumn(client, table.name, column)) continue;
      const alter = `ALTER TABLE ${table.name} ADD COLUMN IF NOT EXISTS ${column} ${type}`;
      await ddl(client, source, `cannot add column ${column} to ${what}`, `run as its owner: ${alter}`, () =>
        client.query(alter),
      );
    }
    const allowed = (
      await client.query<{ ok: boolean }>(`SELECT has_table_privilege($1, $2) AS ok`, [
        table.name,
        table.privileges,
      ])
    ).rows[0]!;
    if (!allowed.ok)
      throw permissionDenied(
        source,
        `standby = true keeps ${table.keeps} in ${table.name}, which this user may not ${table.privileges.toLowerCase()} ` +
          `(GRANT ${table.privileges} ON ${table.name} TO ...)`,
      );
  }
}

async function hasColumn(client: pg.Client, table: string, column: string): Promise<boolean> {
  const row = (
    await client.query<{ found: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM pg_attribute
                       WHERE attrelid = $1::regclass AND attname = $2 AND NOT attisdropped) AS found`,
      [table, column],
    )
  ).rows[0]!;
  return row.found;
}

/** A schema change: another instance making it at once is fine; a refusal says what to run instead. */
async function ddl(
  client: pg.Client,
  source: string,
  what: string,
  remedy: string,
  change: () => Promise<unknown>,
): Promise<void> {
  try {
    await change();
  } catch (error) {
    // Two sources of one database creating it at once: the other one's statement won.
    if (['23505', '42P06', '42P07', '42701'].includes(errorCode(error) ?? '')) return;
    throw errorCode(error) === '42501'
      ? permissionDenied(source, `${what}: ${errorMessage(error)}; ${remedy}`, error)
      : error;
  }
}
