import pg from 'pg';
import {
  InternalError,
  PgRelayError,
  certificateError,
  errorCode,
  errorMessage,
  isNetworkError,
} from '../../core/errors.js';

/**
 * PostgreSQL source failures an operator must act on. None is retried: retrying cannot fix them,
 * and a source that stops holds its position (status 503) instead of skipping data.
 */
export class PostgresSourceError extends PgRelayError {
  constructor(code: string, message: string, options: { cause?: unknown; retriable?: boolean } = {}) {
    super(code, message, options);
  }
}

export const slotMissing = (source: string, slot: string, stored: string) =>
  new PostgresSourceError(
    'PGRELAY_PG_SLOT_MISSING',
    `source ${source}: replication slot "${slot}" does not exist, but pgrelay streamed from it up to ${stored}: ` +
      `changes since then may be gone. Recreating it silently would lose them, so pgrelay stops. To start over from ` +
      `now (accepting the gap, or after a snapshot), run: pgrelay reset-position -c CONFIG --source ${source}`,
  );

export const slotNotFound = (source: string, slot: string) =>
  new PostgresSourceError(
    'PGRELAY_PG_SLOT_NOT_FOUND',
    `source ${source}: replication slot "${slot}" does not exist and create_slot = false ` +
      `(create it: SELECT pg_create_logical_replication_slot('${slot}', 'pgoutput'))`,
  );

export const slotWrongPlugin = (source: string, slot: string, plugin: string) =>
  new PostgresSourceError(
    'PGRELAY_PG_SLOT_PLUGIN',
    `source ${source}: replication slot "${slot}" uses output plugin "${plugin}"; pgrelay needs "pgoutput"`,
  );

export const slotAhead = (source: string, slot: string, confirmed: string, stored: string) =>
  new PostgresSourceError(
    'PGRELAY_PG_SLOT_AHEAD',
    `source ${source}: replication slot "${slot}" is confirmed up to ${confirmed}, past pgrelay's stored position ` +
      `${stored}: the slot was recreated or the state database restored from an older copy, and changes in between ` +
      `cannot be sent. To continue from the slot's position, run: pgrelay reset-position -c CONFIG --source ${source}`,
  );

export const slotInvalidated = (source: string, slot: string) =>
  new PostgresSourceError(
    'PGRELAY_PG_SLOT_INVALIDATED',
    `source ${source}: replication slot "${slot}" was invalidated by the server (max_slot_wal_keep_size exceeded): ` +
      `the WAL it needed is gone. Drop the slot, reset the position and take a new snapshot.`,
  );

export const publicationMissing = (source: string, publication: string, why: string) =>
  new PostgresSourceError(
    'PGRELAY_PG_PUBLICATION_MISSING',
    `source ${source}: publication "${publication}" does not exist and ${why}`,
  );

/**
/** Fixes for a table whose UPDATE and DELETE fail while it is published for them. */
export function identityFixes(tables: readonly string[]): string {
  const table = tables.length === 1 ? tables[0]! : '...';
  return `ALTER TABLE ${table} REPLICA IDENTITY FULL, or give it a primary key`;
}

/** FOR ALL TABLES would publish updates of tables without a replica identity: the application's would fail. */
export const allTablesWithoutIdentity = (source: string, publication: string, tables: readonly string[]) =>
  new PostgresSourceError(
    'PGRELAY_PG_REPLICA_IDENTITY',
    `source ${source}: tables = ["*"] would create publication "${publication}" FOR ALL TABLES, which publishes ` +
      `updates and deletes of every table, and these have no replica identity: ${listed(tables)}. The ` +
      `application's UPDATE and DELETE on them would fail, so pgrelay does not create it. Fix: ` +
      `${identityFixes(tables)} (tables created later need one too), or list the tables to stream in tables ` +
      `(insert_only_tables for those that need only their inserts)`,
  );

/** At most ten names, and how many more. */
export function listed(names: readonly string[]): string {
  const shown = names.slice(0, 10).join(', ');
  return names.length > 10 ? `${shown} and ${names.length - 10} more` : shown;
}

/**
 * Where a slot cannot go on for want of its publication: the change the walsender failed on (its LSN
 * when the server named it), or, found before streaming, the position the session resumes from.
 */
export type Undecodable = { change: string | undefined } | { resume: string };

/**
 * The slot has changes made when the publication did not exist (pgoutput reads publications with the
 * catalog as of each change): it was dropped while the slot still had changes to decode, created
 * after the slot, or publication now names another one. Creating it now does not help those
 * changes, nor does a restart; moving the slot past the publication's creation does (PostgreSQL 15:
 * pg_replication_slot_advance). The walsender reports it on the first such change; the source finds
 * it before streaming when the publication is missing, and then does not create it.
 */
export const publicationDropped = (source: string, slot: string, publication: string, at: Undecodable) =>
  new PostgresSourceError(
    'PGRELAY_PG_PUBLICATION_DROPPED',
    `source ${source}: replication slot "${slot}" ` +
      ('resume' in at
        ? `cannot decode its changes from ${at.resume}: publication "${publication}" does not exist (it was ` +
          `dropped, or publication names another one than the source streamed with), and one created now did not ` +
          `exist when they were made, so pgrelay does not create it. If publication was changed, set it back. `
        : `cannot decode the change${at.change === undefined ? '' : ` at ${at.change}`}: publication ` +
          `"${publication}" did not exist when it was made (it was dropped, or created after the slot). `) +
      `A slot reads each change with the catalog as of that change, so neither creating the publication again nor a ` +
      `restart gets past it. To go on: stop pgrelay; create the publication if it does not exist; move the slot past ` +
      `that point, in the source's database: SELECT pg_replication_slot_advance('${slot}', pg_current_wal_lsn()); ` +
      `forget the older position: pgrelay reset-position -c CONFIG --source ${source}; start pgrelay. Changes made ` +
      `before the advance and not sent are skipped: send them again with pgrelay backfill (each table), or with ` +
      `snapshot = "initial", which takes a new snapshot after reset-position`,
  );

export const walLevel = (source: string, level: string) =>
  new PostgresSourceError(
    'PGRELAY_PG_WAL_LEVEL',
    `source ${source}: the server runs with wal_level = ${level}; logical replication needs wal_level = logical ` +
      `(set it in postgresql.conf and restart PostgreSQL)`,
  );

export const permissionDenied = (source: string, detail: string, cause?: unknown) =>
  new PostgresSourceError('PGRELAY_PG_PERMISSION', `source ${source}: permission denied: ${detail}`, {
    cause,
  });

/** The session ends so that the next one names `publication` (retried at once, see PublicationKeeper). */
export const restream = (source: string, publication: string) =>
  new PostgresSourceError(
    'PGRELAY_PG_RESTREAM',
    `source ${source}: starting the stream again, with publication "${publication}"`,
    { retriable: true },
  );

/** Another client streams from the slot (another pgrelay: active/passive); retried, so this one takes over. */
export const slotInUse = (source: string, slot: string, pid: number) =>
  new PostgresSourceError(
    'PGRELAY_PG_SLOT_ACTIVE',
    `source ${source}: replication slot "${slot}" is in use by server process ${pid}; waiting for it to be released`,
    { retriable: true },
  );

/** SQLSTATE classes of failures that may pass: connection, rollback (serialization), resources, shutdown. */
const TRANSIENT_CLASSES = new Set(['08', '40', '53', '57', '58']);
/** node-postgres reports a lost or timed-out connection as a plain Error with one of these messages. */
const CONNECTION_LOST =
  /connection terminated|timeout expired|connection timeout|not queryable|connection error/i;

/**
 * Every failure of a PostgreSQL source, named, and retriable or not by what it is:
 * - server errors an operator must fix: missing privileges (42501), failed authentication (28000,
 *   28P01), a database that does not exist (3D000), a publication the stream of `slot` cannot see
 *   (42704), any other non-transient SQLSTATE;
 * - TLS: an untrusted certificate, a server without SSL for sslmode=require;
 * - retried: lost connections, refused connections, transient SQLSTATE classes (shutdown,
 *   resources, serialization), a slot another process still holds (55006);
 * - anything else (a bug, input the decoder did not expect) is an internal error: never retried.
 */
export function classifyServerError(source: string, error: unknown, slot?: string): PgRelayError {
  if (error instanceof PgRelayError) return error;
  const code = errorCode(error);
  const message = errorMessage(error);
  const missingPublication = code === '42704' ? /^publication "(.*)" does not exist$/.exec(message) : null;
  if (missingPublication !== null && slot !== undefined) {
    // The walsender's context names the change: 'slot "s", output plugin "pgoutput", ..., associated LSN 0/1925318'.
    const at = /associated LSN ([0-9A-F]+\/[0-9A-F]+)/.exec((error as pg.DatabaseError).where ?? '')?.[1];
    return publicationDropped(source, slot, missingPublication[1]!, { change: at });
  }
  if (code === '42501' || /must be superuser or replication role/i.test(message)) {
    return permissionDenied(
      source,
      `${message} (the user needs the REPLICATION attribute: ALTER ROLE ... REPLICATION)`,
      error,
    );
  }
  if (code === '28000' || code === '28P01')
    return permissionDenied(source, `authentication failed: ${message}`, error);
  if (code === '3D000')
    return new PostgresSourceError('PGRELAY_PG_DATABASE_MISSING', `source ${source}: ${message}`, {
      cause: error,
    });
  const certificate = certificateError(error);
  if (certificate !== undefined || /does not support SSL/i.test(message)) {
    return new PostgresSourceError(
      'PGRELAY_PG_TLS',
      `source ${source}: ${message} (check sslmode and sslrootcert in the dsn)`,
      { cause: error },
    );
  }
  if (error instanceof pg.DatabaseError) {
    const transient = code === '55006' || TRANSIENT_CLASSES.has((code ?? '').slice(0, 2));
    return new PostgresSourceError(
      transient ? 'PGRELAY_PG_UNAVAILABLE' : 'PGRELAY_PG_SERVER',
      `source ${source}: PostgreSQL: ${message} (SQLSTATE ${code ?? '?'})`,
      { cause: error, retriable: transient },
    );
  }
  if (isNetworkError(error) || CONNECTION_LOST.test(message)) {
    return new PostgresSourceError('PGRELAY_PG_UNAVAILABLE', `source ${source}: PostgreSQL: ${message}`, {
      cause: error,
      retriable: true,
    });
  }
  return new InternalError(`source ${source}`, error);
}

/** Whether a query failure is worth retrying (classifyServerError says so). */
export function isTransient(error: unknown): boolean {
  return classifyServerError('', error).retriable;
}
