import { type Lsn, formatLsn, lsnToBigInt, maxLsn } from '../../core/lsn.js';
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

/** Positions are written to SQLite at most this often (each write is an fsync). */
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
 * A PostgreSQL source's positions. `delivered`: every sink holds everything up to it; `stored`: what
 * SQLite holds, what a restart resumes from, written no more often than every 100 ms; `confirmed`:
 * what PostgreSQL was told (confirmed_flush_lsn) = stored − wal_retain, never more, never backwards,
 * never inside a part-delivered transaction.
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

  constructor(
    private readonly state: StateStore,
    private readonly source: string,
    private readonly slot: string,
    private readonly walRetain: number,
    /** Runs when `delivered` moves. */
    private readonly onDelivered: (position: StreamPosition) => void,
  ) {
    const row = state.get(source);
    if (row !== undefined) {
      const { transaction, delivered_events: events } = row.meta as {
        transaction?: string;
        delivered_events?: number;
      };
      this.stored = {
        lsn: lsnToBigInt(row.position),
        ...(transaction !== undefined && typeof events === 'number'
          ? { partial: { commitLsn: lsnToBigInt(transaction), events } }
          : {}),
      };
      this.delivered = this.stored;
    }
  }

  /** What SQLite holds: where a restart resumes; undefined when this source never streamed. */
  get resume(): StreamPosition | undefined {
    return this.stored;
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

  /** The server reported WAL up to `walEnd`; `idle`: nothing is received and not yet delivered. */
  keepalive(walEnd: Lsn, idle: boolean): void {
    this.received = maxLsn(this.received, walEnd);
    if (idle && walEnd > this.delivered.lsn) {
      this.setDelivered({ lsn: walEnd });
      this.persist();
    }
    this.confirm();
  }

  /** Transactions the server sent up to `endLsn` (so it does not ask again). */
  receivedUpTo(endLsn: Lsn): void {
    this.received = maxLsn(this.received, endLsn);
  }

  /**
   * Stores the delivered position; only then may PostgreSQL hear of it. When the state file cannot
   * be written, the stored position (and so the slot's) stays where it was, the store reports why,
   * and the write is tried again (a full disk) until it succeeds; a file that is gone is not.
   */
  persist(): void {
    clearTimeout(this.persistTimer);
    this.persistTimer = undefined;
    const delivered = this.delivered;
    if (delivered.lsn === 0n) return;
    if (this.stored !== undefined && !isAfter(delivered, this.stored)) return;
    const partial = delivered.partial;
    try {
      this.state.put(this.source, formatLsn(delivered.lsn), {
        slot: this.slot,
        ...(partial === undefined
          ? {}
          : { transaction: formatLsn(partial.commitLsn), delivered_events: partial.events }),
      });
    } catch (error) {
      if (!(error instanceof StateError)) throw error;
      if (error.retriable) this.schedule(PERSIST_RETRY_MS);
      return;
    }
    this.stored = delivered;
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
