import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { Logger } from 'pino';
import { errorMessage } from '../../core/errors.js';
import { formatLsn, lsnToBigInt } from '../../core/lsn.js';
import { PostgresSourceError } from './errors.js';
import type { PositionStore, StreamPosition } from './positions.js';
import { LEASES_TABLE, POSITIONS_TABLE, ensureSharedTables, tableExists } from './shared-tables.js';

/**
 * The first key of every lease's advisory lock (the second is the slot's): hashtext() of a fixed
 * text, so that pgrelay's locks do not share keys with an application's single-key locks.
 */
const LOCK_NAMESPACE = 'pgrelay slot lease';
const KEEPALIVES =
  'SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 2';

/** This instance no longer holds the slot's lease: its position session ended. Retried: it stands by. */
export class SlotLeaseLostError extends PostgresSourceError {
  constructor(source: string, slot: string, cause?: unknown) {
    super(
      'PGRELAY_PG_LEASE_LOST',
      `source ${source}: the lease on slot "${slot}" is lost (its position session ended${
        cause === undefined ? '' : `: ${errorMessage(cause)}`
      }); the stream stops, positions are no longer stored, and another pgrelay may take over`,
      { cause, retriable: true },
    );
  }
}

export interface LeaseHost {
  source: string;
  slot: string;
  /** How often a standby checks whether it can take over. */
  interval: number;
  log: Logger;
  connect(): Promise<pg.Client>;
  /** The publication the source streams: recorded with each position. */
  publication(): string;
  /** The lease was lost while held: stop streaming now. */
  lost(error: SlotLeaseLostError): void;
}

/** Who holds a slot's lease, as /status shows it. */
export interface LeaseHolder {
  /** The pgrelay (host:pid) holding it; null: its server process has not named itself (yet). */
  instance: string | null;
  /** The server process of the holder's position session. */
  server_pid: number;
  /** When it took the lease (ISO 8601); null when unknown. */
  since: string | null;
  this_instance: boolean;
}

interface PositionRow {
  lsn: string;
  transaction_lsn: string | null;
  delivered_events: string | null;
  publication: string | null;
}

/** What the last holder stored: where to resume, and the publication it streamed (unrecorded: undefined). */
export interface LeaseTaken {
  position: StreamPosition | undefined;
  publication: string | undefined;
}

/**
 * The right to stream a slot and store its position, for sources with `standby = true`: a
 * session-level advisory lock on the slot's name, held by one connection, the position session, on
 * which alone this instance writes the slot's position (table pgrelay.positions). A write that
 * succeeds proves the lock was held when it was made: the lock lives exactly as long as the
 * session, and a session the server terminated (or whose client died) runs nothing more. Another
 * instance gets the lock only after this session is gone, and then reads a position no older than
 * the last one written here. Streaming needs the slot as well, which PostgreSQL gives to one
 * walsender at a time; the lock holder waits for a previous holder's walsender to go first. The
 * snapshot and backfill progress of the source is written on the same session (run()), so fenced the
 * same way.
 */
export class SlotLease implements PositionStore {
  /** Names this instance in the table and the log. */
  readonly holder = `${os.hostname()}:${process.pid}`;
  private client: pg.Client | undefined;
  /** The work on the position session, one at a time: a transaction is never interleaved. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Who holds the lease: this instance, or the one a standby saw last; undefined: nobody known. */
  private known: LeaseHolder | undefined;

  constructor(private readonly host: LeaseHost) {}

  get held(): boolean {
    return this.client !== undefined;
  }

  /** Who holds the lease, as far as this instance knows (a standby looks every standby_interval). */
  get holderNow(): LeaseHolder | undefined {
    return this.known;
  }

  /** Throws SlotLeaseLostError unless the lease is held. */
  check(): void {
    if (this.client === undefined) throw new SlotLeaseLostError(this.host.source, this.host.slot);
  }

  /**
   * Waits until this instance holds the lease and no walsender holds the slot any more, calling
   * `standingBy` while another instance holds either; returns the position stored under the lease
   * (undefined: none yet, the source never streamed in standby mode) and the publication it was
   * streamed with.
   */
  async acquire(signal: AbortSignal, standingBy: (why: string) => void): Promise<LeaseTaken> {
    const { source, slot, interval } = this.host;
    const client = await this.host.connect();
    try {
      // A holder whose machine vanished leaves its session idle: the server's keepalives end it (and
      // free the lock) within about 20 s, not the operating system's default of two hours and more.
      await client.query(KEEPALIVES);
      for (;;) {
        const { locked } = (
          await client.query<{ locked: boolean }>(
            'SELECT pg_try_advisory_lock(hashtext($1), hashtext($2)) AS locked',
            [LOCK_NAMESPACE, slot],
          )
        ).rows[0]!;
        if (locked) break;
        this.known = await currentHolder(client, slot);
        standingBy(describeHolder(slot, this.known));
        await sleep(interval, undefined, { signal });
      }
      await ensureSharedTables(client, source);
      this.known = await this.announce(client);
      for (;;) {
        const slotRow = (
          await client.query<{ pid: number | null }>(
            'SELECT active_pid AS pid FROM pg_replication_slots WHERE slot_name = $1',
            [slot],
          )
        ).rows[0];
        if (slotRow?.pid === null || slotRow === undefined) break;
        // The previous holder's walsender outlives its position session until its connection is seen gone.
        standingBy(
          `slot "${slot}" is still streamed by server process ${slotRow.pid} (the previous holder's)`,
        );
        await sleep(interval, undefined, { signal });
      }
      const stored = (
        await client.query<PositionRow>(
          `SELECT lsn::text AS lsn, transaction_lsn::text AS transaction_lsn,
                  delivered_events::text AS delivered_events, publication
             FROM ${POSITIONS_TABLE} WHERE slot = $1`,
          [slot],
        )
      ).rows[0];
      this.hold(client);
      this.host.log.info(
        { slot, holder: this.holder },
        `source ${source}: holds the lease on slot "${slot}"${stored === undefined ? '' : `, stored at ${stored.lsn}`}`,
      );
      return {
        position: stored === undefined ? undefined : toPosition(stored),
        publication: stored?.publication ?? undefined,
      };
    } catch (error) {
      if (this.client !== client) {
        this.known = undefined;
        await client.end().catch(() => undefined);
      }
      throw error;
    }
  }

  /** Names this instance as the lease's holder (for the others' /status), from now on. */
  private async announce(client: pg.Client): Promise<LeaseHolder> {
    const row = (
      await client.query<{ pid: number; since: string }>(
        `INSERT INTO ${LEASES_TABLE} (slot, holder, server_pid, since) VALUES ($1, $2, pg_backend_pid(), now())
         ON CONFLICT (slot) DO UPDATE SET holder = excluded.holder, server_pid = excluded.server_pid, since = excluded.since
         RETURNING server_pid AS pid, ${ISO_TIME('since')} AS since`,
        [this.host.slot, this.holder],
      )
    ).rows[0]!;
    return { instance: this.holder, server_pid: row.pid, since: row.since, this_instance: true };
  }

  /** Stores `position` on the position session: only while the lease is held. */
  write(position: StreamPosition): Promise<void> {
    return this.run((client) => this.store(client, position));
  }

  /** Stores `position` on `client`, the position session in run(): in the work's transaction, if any. */
  async store(client: pg.Client, position: StreamPosition): Promise<void> {
    await client.query(
      `INSERT INTO ${POSITIONS_TABLE}
         (slot, source, lsn, transaction_lsn, delivered_events, holder, updated_at, publication)
       VALUES ($1, $2, $3::pg_lsn, $4::pg_lsn, $5, $6, now(), $7)
       ON CONFLICT (slot) DO UPDATE SET source = excluded.source, lsn = excluded.lsn,
         transaction_lsn = excluded.transaction_lsn, delivered_events = excluded.delivered_events,
         holder = excluded.holder, updated_at = excluded.updated_at, publication = excluded.publication`,
      [
        this.host.slot,
        this.host.source,
        formatLsn(position.lsn),
        position.partial === undefined ? null : formatLsn(position.partial.commitLsn),
        position.partial?.events ?? null,
        this.holder,
        this.host.publication(),
      ],
    );
  }

  /**
   * Runs `work` on the position session once the work before it ended: only while the lease is held
   * (else SlotLeaseLostError). A failure ends the lease (and rolls back a transaction the work began).
   */
  run<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
    const turn = this.queue.then(() => this.runHeld(work));
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  private async runHeld<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = this.client;
    if (client === undefined) throw new SlotLeaseLostError(this.host.source, this.host.slot);
    try {
      return await work(client);
    } catch (error) {
      // Unsure whether the lock still stands behind this session: give it up rather than stream on.
      const lost =
        error instanceof SlotLeaseLostError
          ? error
          : new SlotLeaseLostError(this.host.source, this.host.slot, error);
      if (this.client === client) {
        this.client = undefined;
        this.known = undefined;
        await client.end().catch(() => undefined);
        this.host.lost(lost);
      }
      throw lost;
    }
  }

  /** Ends the position session, and with it the lock, once the work on it ended: a standby may take over. */
  async release(): Promise<void> {
    await this.queue;
    const client = this.client;
    this.client = undefined;
    this.known = undefined;
    await client?.end().catch(() => undefined);
  }

  private hold(client: pg.Client): void {
    this.client = client;
    const onLost = (error?: unknown) => {
      if (this.client !== client) return;
      this.client = undefined;
      this.known = undefined;
      void client.end().catch(() => undefined);
      this.host.lost(new SlotLeaseLostError(this.host.source, this.host.slot, error));
    };
    client.on('error', onLost);
    client.on('end', () => onLost());
  }
}

/** `column` (timestamptz) as ISO 8601 in UTC, milliseconds: as /status writes times. */
const ISO_TIME = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/**
 * Who holds the lease on `slot`: the server process holding the lock, and the pgrelay that named
 * itself from that process (undefined: nobody holds it now).
 */
async function currentHolder(client: pg.Client, slot: string): Promise<LeaseHolder | undefined> {
  const { pid } = (
    await client.query<{ pid: number | null }>(
      `SELECT (SELECT pid FROM pg_locks
                WHERE locktype = 'advisory' AND granted AND objsubid = 2
                  AND classid = hashtext($1)::oid AND objid = hashtext($2)::oid LIMIT 1) AS pid`,
      [LOCK_NAMESPACE, slot],
    )
  ).rows[0]!;
  if (pid === null) return undefined;
  const named = (await tableExists(client, LEASES_TABLE))
    ? (
        await client.query<{ holder: string; since: string }>(
          `SELECT holder, ${ISO_TIME('since')} AS since FROM ${LEASES_TABLE} WHERE slot = $1 AND server_pid = $2`,
          [slot, pid],
        )
      ).rows[0]
    : undefined;
  return {
    instance: named?.holder ?? null,
    server_pid: pid,
    since: named?.since ?? null,
    this_instance: false,
  };
}

/** A standby source's position as pgrelay.positions holds it. */
export interface SharedPosition {
  lsn: string;
  transaction_lsn: string | null;
  delivered_events: number | null;
  /** The instance that stored it. */
  stored_by: string;
  updated_at: string;
  /** The publication streamed; null when unrecorded (stored before pgrelay recorded it). */
  publication: string | null;
}

/**
 * What `pgrelay positions` shows of a standby source: its stored position (undefined: none yet) and
 * who holds its slot now (undefined: nobody).
 */
export async function readSharedPosition(
  client: pg.Client,
  slot: string,
): Promise<{ stored: SharedPosition | undefined; holder: LeaseHolder | undefined }> {
  const stored = (await tableExists(client, POSITIONS_TABLE))
    ? (
        await client.query<Omit<SharedPosition, 'delivered_events'> & { delivered_events: string | null }>(
          `SELECT lsn::text AS lsn, transaction_lsn::text AS transaction_lsn, delivered_events::text AS delivered_events,
                  holder AS stored_by, ${ISO_TIME('updated_at')} AS updated_at, publication
             FROM ${POSITIONS_TABLE} WHERE slot = $1`,
          [slot],
        )
      ).rows[0]
    : undefined;
  return {
    stored:
      stored === undefined
        ? undefined
        : {
            ...stored,
            delivered_events: stored.delivered_events === null ? null : Number(stored.delivered_events),
          },
    holder: await currentHolder(client, slot),
  };
}

/** Who holds the lease, in words: the log of a standby, `pgrelay positions`. */
export function holderText(holder: LeaseHolder | undefined): string {
  if (holder === undefined) return 'nobody';
  return (
    `${holder.instance === null ? '' : `pgrelay ${holder.instance}, `}server process ${holder.server_pid}` +
    (holder.since === null ? '' : `, since ${holder.since}`)
  );
}

function describeHolder(slot: string, holder: LeaseHolder | undefined): string {
  return holder === undefined
    ? `slot "${slot}" was leased by another pgrelay, gone since`
    : `slot "${slot}" is leased by ${holderText(holder)}`;
}

function toPosition(row: PositionRow): StreamPosition {
  return {
    lsn: lsnToBigInt(row.lsn),
    ...(row.transaction_lsn !== null && row.delivered_events !== null
      ? { partial: { commitLsn: lsnToBigInt(row.transaction_lsn), events: Number(row.delivered_events) } }
      : {}),
  };
}
