import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { PgRelayError, errorCode, errorMessage } from '../core/errors.js';
import { migrate } from './migrations.js';

export class StateError extends PgRelayError {
  constructor(message: string, cause?: unknown, code = 'PGRELAY_STATE', retriable = false) {
    super(code, message, { cause, retriable });
  }
}

/**
 * A write to the state file failed (a full disk, an I/O error, a read-only file system). Retriable:
 * the positions it would have stored stay held (PostgreSQL hears of nothing past what is stored)
 * until a later write succeeds.
 */
export class StateWriteError extends StateError {
  constructor(file: string, cause: unknown) {
    const code = (cause as { code?: unknown }).code;
    super(
      `state.path ${file}: cannot write: ${errorMessage(cause)}${typeof code === 'string' ? ` (${code})` : ''}; ` +
        'positions are not stored, nor confirmed to PostgreSQL, until a write succeeds',
      cause,
      'PGRELAY_STATE_WRITE',
      true,
    );
  }
}

/**
 * The file at state.path is no longer the database pgrelay opened: it was deleted, or replaced by
 * another file. Nothing is written any more (into a deleted file, a restart would never read it; into
 * a replacement, pgrelay would overwrite positions it never read). Not recreated either: an empty
 * file would hold only what is written after it, and the positions of sources that did not write
 * since, and every snapshot's progress, would be lost. Stopping instead keeps the replication slots
 * where the last stored positions put them, so a restart loses nothing (README "The state file").
 */
export class StateFileGoneError extends StateError {
  constructor(file: string, what: string) {
    super(
      `state.path ${file} ${what} while pgrelay ran: positions can no longer be stored, so PostgreSQL sources stop ` +
        'and their slots keep the WAL after the last stored position. Put the file back from a backup, or restart ' +
        'pgrelay: with no stored position a source resumes from its slot (what was sent since is sent again; ' +
        'snapshot = "initial" takes its snapshot again)',
      undefined,
      'PGRELAY_STATE_FILE_GONE',
    );
  }
}

/** Why the state file cannot store anything now; undefined when it can. */
export type StateFailure = StateWriteError | StateFileGoneError;

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
 *
 * Every write goes through write() or writeSynced(): each first checks that the file at the path
 * is still the one open (device and inode), and turns a failed write (SQLITE_FULL...) into a
 * StateFailure that watchers hear of once, when it begins, and again when a write succeeds.
 * writeSynced() commits at NORMAL and syncs the WAL itself, off the event loop.
 */
export class StateStore {
  private readonly upsert: Database.Statement<[string, string, string, string]>;
  private readonly select: Database.Statement<[string], PositionRow>;
  private readonly watchers: ((failure: StateFailure | undefined) => void)[] = [];
  private current: StateFailure | undefined;
  /** Set once the file at the path is not the one open: for good, nothing is written after it. */
  private gone: StateFileGoneError | undefined;
  private writing = false;
  /** The WAL file, opened by the first writeSynced() to sync it. */
  private wal: Promise<fs.promises.FileHandle> | undefined;
  /** Writes that failed, each attempt counted. */
  failedWrites = 0;

  private constructor(
    readonly file: string,
    private readonly db: Database.Database,
    private readonly identity: fs.Stats,
  ) {
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
    return new StateStore(path.resolve(file), db, fs.statSync(file));
  }

  get(source: string): StoredPosition | undefined {
    const row = this.select.get(source);
    return row && toPosition(row);
  }

  put(source: string, position: string, meta: Record<string, unknown> = {}): void {
    this.write(() => this.upsert.run(source, position, JSON.stringify(meta), new Date().toISOString()));
  }

  /** put() without its fsync on the event loop: see writeSynced(). */
  putSynced(source: string, position: string, meta: Record<string, unknown> = {}): Promise<void> {
    return this.writeSynced(() => this.put(source, position, meta));
  }

  /**
   * write() without its fsync on the event loop: `change` is committed without syncing the WAL
   * (synchronous=NORMAL for this one write), then the WAL file is synced in Node's thread pool, and
   * the promise resolves once it is. What `change` wrote is then as durable as write() makes it (a
   * commit in WAL mode is on disk once the WAL is), and a failure rejects as write() throws. Under
   * I/O from PostgreSQL and the broker on the same disk, a position write's fsync held the event
   * loop up to 163 ms, and every change behind it waited: commit-to-Kafka p99 18 to 155 ms, against
   * 14 to 33 with the fsync off the loop (4 pairs at 5,000 changes/s, measured).
   */
  async writeSynced<T>(change: () => T): Promise<T> {
    this.db.pragma('synchronous = NORMAL');
    let result: T;
    try {
      result = this.commit(change);
    } finally {
      this.db.pragma('synchronous = FULL');
    }
    try {
      this.wal ??= this.openWal();
      await (await this.wal).datasync();
    } catch (error) {
      // Opened again next time: the file may not have been there yet, or its handle failed.
      this.dropWal();
      this.failed(error);
    }
    this.report(undefined);
    return result;
  }

  list(source?: string): StoredPosition[] {
    const rows =
      source === undefined
        ? this.db.prepare<[], PositionRow>('SELECT * FROM positions ORDER BY source').all()
        : this.db.prepare<[string], PositionRow>('SELECT * FROM positions WHERE source = ?').all(source);
    return rows.map(toPosition);
  }

  delete(source: string): number {
    return this.write(() => this.db.prepare('DELETE FROM positions WHERE source = ?').run(source).changes);
  }

  /**
   * Runs `change` (statements on `database`, in one transaction when it needs several) as a write:
   * throws a StateFailure, and reports it to the watchers, when the file is gone or the write fails.
   * Writes nested in one only count once, as the outer one.
   */
  write<T>(change: () => T): T {
    if (this.writing) return change();
    const result = this.commit(change);
    this.report(undefined);
    return result;
  }

  /**
   * Throws StateFileGoneError (reported to the watchers) when the file at the path is not the
   * database open: deleted, or replaced by another file. Cheap (one stat): every write calls it.
   */
  verify(): void {
    if (this.gone === undefined) {
      let found: fs.Stats | undefined;
      try {
        found = fs.statSync(this.file);
      } catch (error) {
        // Only an absent file is known to be gone; a path that cannot be examined leaves it to the write.
        if (errorCode(error) !== 'ENOENT') return;
      }
      if (found === undefined) this.gone = new StateFileGoneError(this.file, 'was deleted');
      else if (found.dev !== this.identity.dev || found.ino !== this.identity.ino)
        this.gone = new StateFileGoneError(this.file, 'was replaced by another file');
      else return;
    }
    this.report(this.gone);
    throw this.gone;
  }

  /** Why the state file cannot store anything now; undefined when the last write succeeded. */
  get failure(): StateFailure | undefined {
    return this.current;
  }

  /**
   * `listener` hears of each change: a failure beginning or changing, and undefined when a write
   * succeeds. Returns what stops it hearing (a component a reload replaced must not be kept alive).
   */
  watch(listener: (failure: StateFailure | undefined) => void): () => void {
    this.watchers.push(listener);
    return () => {
      const index = this.watchers.indexOf(listener);
      if (index !== -1) this.watchers.splice(index, 1);
    };
  }

  /** The underlying database, for state that belongs to one component kind (snapshot progress). */
  get database(): Database.Database {
    return this.db;
  }

  close(): void {
    this.dropWal();
    if (this.db.open) this.db.close();
  }

  /** Forgets the WAL's handle, closing it once the operations on it are done (a FileHandle waits for them). */
  private dropWal(): void {
    void this.wal?.then((handle) => handle.close()).catch(() => undefined);
    this.wal = undefined;
  }

  /**
   * The WAL file, and its directory entry on disk: SQLite syncs the directory of a WAL it created at
   * its first sync of it, which a commit at NORMAL leaves to a checkpoint.
   */
  private async openWal(): Promise<fs.promises.FileHandle> {
    const wal = await fs.promises.open(`${this.file}-wal`, 'r+');
    try {
      const dir = await fs.promises.open(path.dirname(this.file), 'r');
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
      return wal;
    } catch (error) {
      await wal.close();
      throw error;
    }
  }

  /** Runs `change` as a write, reporting a failure but not a success (the caller does, once it is stored). */
  private commit<T>(change: () => T): T {
    this.verify();
    this.writing = true;
    try {
      return change();
    } catch (error) {
      if (!(error instanceof Database.SqliteError)) throw error;
      this.failed(error);
    } finally {
      this.writing = false;
    }
  }

  private failed(cause: unknown): never {
    this.failedWrites++;
    const failure = new StateWriteError(this.file, cause);
    this.report(failure);
    throw failure;
  }

  private report(failure: StateFailure | undefined): void {
    if (failure?.message === this.current?.message) return;
    this.current = failure;
    for (const watcher of this.watchers) watcher(failure);
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
