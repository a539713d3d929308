import type Database from 'better-sqlite3';

/** Schema steps, applied in order; PRAGMA user_version records how many ran. Never edit a shipped step. */
const STEPS: readonly string[] = [
  `CREATE TABLE positions (
     source     TEXT NOT NULL,
     scope      TEXT NOT NULL DEFAULT '',
     position   TEXT NOT NULL,
     meta       TEXT NOT NULL DEFAULT '{}',
     updated_at TEXT NOT NULL,
     PRIMARY KEY (source, scope)
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
