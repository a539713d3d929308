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

export interface StoredPosition {
  source: string;
  /** Sub-position within a source: '' for PostgreSQL, `topic/partition` for Kafka. */
  scope: string;
  position: string;
  meta: Record<string, unknown>;
  updatedAt: string;
}

interface PositionRow {
  source: string;
  scope: string;
  position: string;
  meta: string;
  updated_at: string;
}

/**
 * Source positions in SQLite. WAL journal with synchronous=FULL, set on every open because
 * better-sqlite3 reopens WAL databases at NORMAL, which can lose the last commits on power loss.
 */
export class StateStore {
  private readonly db: Database.Database;
  private readonly upsert: Database.Statement<[string, string, string, string, string]>;
  private readonly select: Database.Statement<[string, string], PositionRow>;

  private constructor(
    readonly path: string,
    db: Database.Database,
  ) {
    this.db = db;
    this.upsert = db.prepare(
      `INSERT INTO positions (source, scope, position, meta, updated_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (source, scope) DO UPDATE SET position = excluded.position, meta = excluded.meta,
       updated_at = excluded.updated_at`,
    );
    this.select = db.prepare('SELECT * FROM positions WHERE source = ? AND scope = ?');
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
    return new StateStore(file, db);
  }

  get(source: string, scope = ''): StoredPosition | undefined {
    const row = this.select.get(source, scope);
    return row && toPosition(row);
  }

  put(source: string, scope: string, position: string, meta: Record<string, unknown> = {}): void {
    this.upsert.run(source, scope, position, JSON.stringify(meta), new Date().toISOString());
  }

  /** Several positions in one transaction (one fsync). */
  putMany(
    entries: readonly { source: string; scope: string; position: string; meta?: Record<string, unknown> }[],
  ): void {
    this.db.transaction(() => {
      for (const e of entries) this.put(e.source, e.scope, e.position, e.meta);
    })();
  }

  list(source?: string): StoredPosition[] {
    const rows =
      source === undefined
        ? this.db.prepare<[], PositionRow>('SELECT * FROM positions ORDER BY source, scope').all()
        : this.db
            .prepare<[string], PositionRow>('SELECT * FROM positions WHERE source = ? ORDER BY scope')
            .all(source);
    return rows.map(toPosition);
  }

  delete(source: string, scope?: string): number {
    const result =
      scope === undefined
        ? this.db.prepare('DELETE FROM positions WHERE source = ?').run(source)
        : this.db.prepare('DELETE FROM positions WHERE source = ? AND scope = ?').run(source, scope);
    return result.changes;
  }

  /** The underlying database, for state that belongs to one component kind (snapshot progress). */
  get database(): Database.Database {
    return this.db;
  }

  get schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  get synchronous(): number {
    return this.db.pragma('synchronous', { simple: true }) as number;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

function toPosition(row: PositionRow): StoredPosition {
  return {
    source: row.source,
    scope: row.scope,
    position: row.position,
    meta: JSON.parse(row.meta) as Record<string, unknown>,
    updatedAt: row.updated_at,
  };
}
