import { type Lsn, formatLsn, lsnToBigInt, maxLsn } from '../../core/lsn.js';
import { PgRelayError } from '../../core/errors.js';
import { StateError, type StateStore } from '../../state/store.js';

/**
 * Where a stream may resume: after `lsn` (the end of a transaction every sink holds, or a WAL position
 * with nothing before it left to deliver) and, when a transaction was part-delivered, past its first
 * `partial.events` events (Debezium keeps the same: commit LSN and events seen within it).
 */
export interface StreamPosition {
  readonly lsn: Lsn;
  readonly partial?: { readonly commitLsn: Lsn; readonly events: number };
}

/** Positions are stored at most this often (each write to SQLite is an fsync). */
const PERSIST_INTERVAL_MS = 100;
/** While the state file cannot be written (a full disk), each source tries again this often. */
const PERSIST_RETRY_MS = 1000;

/** Whether `a` is further than `b`: a later LSN, or the same LSN and more of the next transaction. */
export function isAfter(a: StreamPosition, b: StreamPosition): boolean {
  if (a.lsn !== b.lsn) return a.lsn > b.lsn;
  if (a.partial === undefined) return false;
  if (b.partial === undefined) return true;
  return a.partial.commitLsn !== b.partial.commitLsn
    ? a.partial.commitLsn > b.partial.commitLsn
    : a.partial.events > b.partial.events;
}

export function describePosition(position: StreamPosition): string {
  const { lsn, partial } = position;
  return partial === undefined
    ? formatLsn(lsn)
    : `${formatLsn(lsn)} (and ${partial.events} events of the transaction committed at ${formatLsn(partial.commitLsn)})`;
}

/** The standby status a position allows: what was received, and what PostgreSQL may consider consumed. */
export type SendStatus = (received: Lsn, flushed: Lsn, replyRequested: boolean) => void;

/**
 * Where a source's position is stored. write() resolves once the position is stored, and rejects when
 * it is not: a retriable StateError is tried again; any other failure is its owner's to report (a
 * lost slot lease).
 */
export interface PositionStore {
  write(position: StreamPosition): Promise<void>;
}

/** Positions in the state file (SQLite): the single-instance default. */
export class StateFilePositions implements PositionStore {
  constructor(
    private readonly state: StateStore,
    private readonly source: string,
    private readonly slot: string,
    /** Recorded with each position: the publication the source streams (see publicationFor). */
    private readonly publication: string,
  ) {}

  read(): StreamPosition | undefined {
    const row = this.state.get(this.source);
    if (row === undefined) return undefined;
    const { transaction, delivered_events: events } = row.meta as {
      transaction?: string;
      delivered_events?: number;
    };
    return {
      lsn: lsnToBigInt(row.position),
      ...(transaction !== undefined && typeof events === 'number'
        ? { partial: { commitLsn: lsnToBigInt(transaction), events } }
        : {}),
    };
  }

  /** Stores `position`; resolves once it is on disk (the fsync runs off the event loop). */
  write(position: StreamPosition): Promise<void> {
    return this.state.putSynced(this.source, formatLsn(position.lsn), this.meta(position));
  }

  /** Stores `position` within the caller's state-file transaction, which makes it durable. */
  writeInTransaction(position: StreamPosition): void {
    this.state.put(this.source, formatLsn(position.lsn), this.meta(position));
  }

  private meta(position: StreamPosition): Record<string, unknown> {
    const partial = position.partial;
    return {
      slot: this.slot,
      publication: this.publication,
      ...(partial === undefined
        ? {}
        : { transaction: formatLsn(partial.commitLsn), delivered_events: partial.events }),
    };
  }
}

/**
 * A PostgreSQL source's positions. `delivered`: every sink holds everything up to it; `stored`: what
 * the position store holds, what a restart (or another instance taking over) resumes from, written no
 * more often than every 100 ms; `confirmed`: what PostgreSQL was told (confirmed_flush_lsn) = stored −
 * wal_retain, never more, never backwards, never inside a part-delivered transaction.
 */
export class SlotPositions {
  delivered: StreamPosition = { lsn: 0n };
  private stored: StreamPosition | undefined;
  private confirmed: Lsn = 0n;
  /** The furthest WAL position the server reported. */
  private received: Lsn = 0n;
  private persistTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private sendStatus: SendStatus | undefined;
  /** An asynchronous write under way; `again`: persist once more when it ends (delivered moved). */
  private writing: Promise<void> | undefined;
  private again = false;

  constructor(
    private readonly store: PositionStore,
    /** What the store held when the source started (undefined: nothing, or read later: takeOver). */
    stored: StreamPosition | undefined,
    private readonly walRetain: number,
    /** Runs when `delivered` moves. */
    private readonly onDelivered: (position: StreamPosition) => void,
  ) {
    this.stored = stored;
    if (stored !== undefined) this.delivered = stored;
  }

  /** What the store holds: where a restart resumes; undefined when this source never streamed. */
  get resume(): StreamPosition | undefined {
    return this.stored;
  }

  /**
   * This instance took the slot over from another one, which stored `position` (undefined: none did):
   * resume from there, even behind what this instance delivered itself before (the other one may
   * have stored nothing later, and starting at or before a stored position loses nothing).
   */
  takeOver(position: StreamPosition | undefined): void {
    this.stored = position;
    if (position !== undefined) this.setDelivered(position);
  }

  /**
   * A new session streams from `from` (the stored position, the slot's, or a snapshot's end); the
   * slot is confirmed up to `slotConfirmed` already.
   */
  startSession(from: StreamPosition, slotConfirmed: Lsn, sendStatus: SendStatus): void {
    if (isAfter(from, this.delivered)) this.setDelivered(from);
    this.confirmed = maxLsn(this.confirmed, slotConfirmed);
    this.sendStatus = sendStatus;
  }

  endSession(): void {
    this.sendStatus = undefined;
  }

  /** A snapshot completed and stored the position the stream starts from (in its own transaction). */
  snapshotStored(position: StreamPosition): void {
    this.stored = position;
    if (isAfter(position, this.delivered)) this.setDelivered(position);
  }

  /** Every sink holds everything up to `position`: store it soon, then tell PostgreSQL. */
  advance(position: StreamPosition): void {
    if (!isAfter(position, this.delivered)) return;
    this.setDelivered(position);
    this.schedule(PERSIST_INTERVAL_MS);
  }

  /**
   * The server reported WAL up to `walEnd`; `idle`: nothing is received and not yet delivered.
   * Answered only when the server asks for a reply (it does before wal_sender_timeout, and at its
   * shutdown): while transactions stream it sends a keepalive after nearly each one, and answering
   * each cost a status message per transaction (about 5 µs of pgrelay's CPU per change at 5,000
   * changes/s, measured). Stored positions are confirmed as they are stored, and every
   * status_interval.
   */
  keepalive(walEnd: Lsn, idle: boolean, replyRequested: boolean): void {
    this.received = maxLsn(this.received, walEnd);
    if (idle && walEnd > this.delivered.lsn) {
      this.setDelivered({ lsn: walEnd });
      this.persist();
    }
    if (replyRequested) this.confirm();
  }

  /** Transactions the server sent up to `endLsn` (so it does not ask again). */
  receivedUpTo(endLsn: Lsn): void {
    this.received = maxLsn(this.received, endLsn);
  }

  /**
   * Stores the delivered position; only then may PostgreSQL hear of it. When the state file cannot
   * be written, the stored position (and so the slot's) stays where it was, the store reports why,
   * and the write is tried again (a full disk) until it succeeds; a file that is gone is not.
   * One position is written at a time, then the latest.
   */
  persist(): void {
    clearTimeout(this.persistTimer);
    this.persistTimer = undefined;
    if (this.writing !== undefined) {
      this.again = true;
      return;
    }
    const delivered = this.delivered;
    if (delivered.lsn === 0n) return;
    if (this.stored !== undefined && !isAfter(delivered, this.stored)) return;
    this.writing = this.store.write(delivered).then(
      () => {
        this.writing = undefined;
        if (this.stored === undefined || isAfter(delivered, this.stored)) this.stored = delivered;
        this.confirm();
        this.persistAgain();
      },
      (error: unknown) => {
        this.writing = undefined;
        this.writeFailed(error);
        this.persistAgain();
      },
    );
  }

  /** Stores the delivered position and waits until it is stored (or its write failed). */
  async flush(): Promise<void> {
    this.persist();
    while (this.writing !== undefined) await this.writing;
  }

  /** Standby status: confirmed_flush = stored − wal_retain, never past what is stored, never backwards. */
  confirm(replyRequested = false): void {
    if (this.sendStatus === undefined) return;
    if (this.stored !== undefined) {
      const retained = this.stored.lsn - BigInt(this.walRetain);
      if (retained > this.confirmed) this.confirmed = retained;
    }
    this.sendStatus(maxLsn(this.received, this.confirmed), this.confirmed, replyRequested);
  }

  /** Stops the persist timer (the caller persists and confirms what it wants first). */
  close(): void {
    this.closed = true;
    clearTimeout(this.persistTimer);
    this.persistTimer = undefined;
  }

  private persistAgain(): void {
    if (!this.again) return;
    this.again = false;
    this.persist();
  }

  private writeFailed(error: unknown): void {
    if (!(error instanceof PgRelayError)) throw error;
    if (error instanceof StateError && error.retriable) this.schedule(PERSIST_RETRY_MS);
  }

  /** Persists and confirms in `delayMs`, unless a write is due already or the source stopped. */
  private schedule(delayMs: number): void {
    if (this.closed) return;
    this.persistTimer ??= setTimeout(() => {
      this.persistTimer = undefined;
      this.persist();
      this.confirm();
    }, delayMs);
  }

  private setDelivered(position: StreamPosition): void {
    this.delivered = position;
    this.onDelivered(position);
  }
}
