import type Database from 'better-sqlite3';

/** Schema steps, applied in order; PRAGMA user_version records how many ran. Never edit a shipped step. */
const STEPS: readonly string[] = [
  // scope: always '' (see StateStore); kept, as shipped.
  `CREATE TABLE positions (
     source     TEXT NOT NULL,
     scope      TEXT NOT NULL DEFAULT '',
     position   TEXT NOT NULL,
     meta       TEXT NOT NULL DEFAULT '{}',
     updated_at TEXT NOT NULL,
     PRIMARY KEY (source, scope)
   )`,
  // Snapshot and backfill progress, one row per run and table (src/sources/postgres/snapshot/store.ts).
  `CREATE TABLE snapshot_progress (
     source     TEXT NOT NULL,
     run        TEXT NOT NULL,
     table_name TEXT NOT NULL,
     mode       TEXT NOT NULL,
     lsn        TEXT NOT NULL,
     where_sql  TEXT,
     last_key   TEXT,
     rows_done  INTEGER NOT NULL DEFAULT 0,
     state      TEXT NOT NULL,
     started_at TEXT NOT NULL,
     updated_at TEXT NOT NULL,
     PRIMARY KEY (source, run, table_name)
   )`,
];

export const SCHEMA_VERSION = STEPS.length;

export function migrate(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > SCHEMA_VERSION) {
    throw new Error(
      `schema version ${current} is newer than this pgrelay understands (${SCHEMA_VERSION}); it was written by a newer release`,
    );
  }
  for (let version = current; version < SCHEMA_VERSION; version++) {
    db.transaction(() => {
      db.exec(STEPS[version]!);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
}
