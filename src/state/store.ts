import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { PgRelayError, errorMessage } from '../core/errors.js';
import { migrate } from './migrations.js';

export class StateError extends PgRelayError {
  constructor(message: string, cause?: unknown) {
    super('PGRELAY_STATE', message, { cause });
  }
}

/** A PostgreSQL source's position (a Kafka source's offsets live in its consumer group). */
export interface StoredPosition {
  source: string;
  position: string;
  meta: Record<string, unknown>;
  updatedAt: string;
}

interface PositionRow {
  source: string;
  position: string;
  meta: string;
  updated_at: string;
}

/**
 * Source positions in SQLite, one per source. WAL journal with synchronous=FULL, set on every open
 * because better-sqlite3 reopens WAL databases at NORMAL, which can lose the last commits on power
 * loss. The table's `scope` column (schema step 1) is always its default, '': nothing ever stored a
 * position within a source, and the column stays so that existing state files open unchanged.
 */
export class StateStore {
  private readonly upsert: Database.Statement<[string, string, string, string]>;
  private readonly select: Database.Statement<[string], PositionRow>;

  private constructor(private readonly db: Database.Database) {
    this.upsert = db.prepare(
      `INSERT INTO positions (source, position, meta, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (source, scope) DO UPDATE SET position = excluded.position, meta = excluded.meta,
       updated_at = excluded.updated_at`,
    );
    this.select = db.prepare('SELECT * FROM positions WHERE source = ?');
  }

  static open(file: string): StateStore {
    const dir = path.dirname(path.resolve(file));
    if (!fs.existsSync(dir)) {
      throw new StateError(
        `state.path: directory ${dir} does not exist (create it, or point state.path elsewhere)`,
      );
    }
    let db: Database.Database;
    try {
      db = new Database(file);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('busy_timeout = 5000');
      migrate(db);
    } catch (error) {
      throw new StateError(`state.path: cannot open ${file}: ${errorMessage(error)}`, error);
    }
    return new StateStore(db);
  }

  get(source: string): StoredPosition | undefined {
    const row = this.select.get(source);
    return row && toPosition(row);
  }

  put(source: string, position: string, meta: Record<string, unknown> = {}): void {
    this.upsert.run(source, position, JSON.stringify(meta), new Date().toISOString());
  }

  list(source?: string): StoredPosition[] {
    const rows =
      source === undefined
        ? this.db.prepare<[], PositionRow>('SELECT * FROM positions ORDER BY source').all()
        : this.db.prepare<[string], PositionRow>('SELECT * FROM positions WHERE source = ?').all(source);
    return rows.map(toPosition);
  }

  delete(source: string): number {
    return this.db.prepare('DELETE FROM positions WHERE source = ?').run(source).changes;
  }

  /** The underlying database, for state that belongs to one component kind (snapshot progress). */
  get database(): Database.Database {
    return this.db;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

function toPosition(row: PositionRow): StoredPosition {
  return {
    source: row.source,
    position: row.position,
    meta: JSON.parse(row.meta) as Record<string, unknown>,
    updatedAt: row.updated_at,
  };
}
