import type pg from 'pg';
import type { Logger } from 'pino';
import { PgRelayError } from '../../core/errors.js';
import type { ChangeEvent, Row } from '../../core/event.js';
import { type Lsn, formatLsn } from '../../core/lsn.js';
import type { Stats } from '../../core/component.js';
import type { Backfills } from './backfill/backfill.js';
import { BACKFILL_PREFIX } from './backfill/backfill.js';
import type { PostgresSourceConfig } from './config.js';
import type { StreamPosition } from './positions.js';
import { type PgoutputMessage, decodePgoutput, pgTime } from './protocol/pgoutput.js';
import { indexColumns } from './schema/catalog.js';
import type { EventFactory, EventOrigin } from './schema/events.js';
import { Table } from './schema/table.js';
import { TYPE_QUERY, type TypeRegistry } from './schema/values.js';

/** Prefix of the logical messages `heartbeat` emits; they advance the slot and are never relayed. */
export const HEARTBEAT_PREFIX = 'pgrelay.heartbeat';

/**
 * The most events and bytes (the source's estimate) per batch handed to the router, whatever the
 * sinks take: consecutive transactions share a batch (and one watermark ticket) up to the smallest
 * sink batch; a larger transaction is handed out in several.
 */
const MAX_BATCH = { events: 10_000, bytes: 8 * 1024 * 1024 };

/** The pgoutput stream broke the protocol's rules (a change before its relation, outside a transaction). */
export class StreamProtocolError extends PgRelayError {
  constructor(message: string) {
    super('PGRELAY_PG_PROTOCOL', `pgoutput: ${message}`);
  }
}

interface Transaction extends EventOrigin {
  readonly commitLsn: Lsn;
  readonly commitMs: number;
  readonly xid: number;
  /** Events so far, delivered or skipped: the next event's sequence number. */
  sequence: number;
  /** Events of this transaction delivered before a restart, skipped when it is sent again. */
  readonly skipEvents: number;
}

/** What the stream needs from its source. */
export interface StreamHost {
  readonly name: string;
  readonly config: PostgresSourceConfig;
  readonly log: Logger;
  readonly stats: Stats;
  readonly debug: boolean;
  readonly events: EventFactory;
  readonly types: TypeRegistry;
  readonly backfills: Backfills;
  /** The source's non-replication connection, for catalog lookups (types, primary keys). */
  side(): pg.Client;
  /** True while received messages wait to be handled: more is coming at once. */
  backlog(): boolean;
  /** The largest batch every sink of this source delivers in one go. */
  batchLimits(): { events: number; bytes: number };
  /** The server sent every transaction up to `endLsn` (reported back so it does not ask again). */
  received(endLsn: Lsn): void;
  /**
   * Hands a batch to the router (waiting for buffer room); `position` is where the source may
   * resume once it and everything before it is acknowledged; undefined: no resumable point.
   */
  dispatch(
    events: ChangeEvent[],
    bytes: number,
    originMs: number,
    position: StreamPosition | undefined,
  ): Promise<void>;
  /** Rows read outside the stream (a backfill chunk), as one batch. */
  emitRows(events: ChangeEvent[], bytes: number, onDelivered: () => void): Promise<void>;
}

/**
 * Decodes a replication session's pgoutput messages into change events and hands them out in
 * batches. Consecutive transactions share a batch while more data is queued (the batch's position
 * is the last transaction it completes); a batch goes out as soon as nothing more is queued, so
 * latency stays low and a backlog drains in large batches. On replay after a restart, transactions
 * delivered before are skipped, and so are the delivered events of a part-delivered transaction.
 */
export class ChangeStream {
  private readonly relations = new Map<number, Table>();
  private transaction: Transaction | undefined;
  private pending: ChangeEvent[] = [];
  private pendingBytes = 0;
  private pendingOrigin = 0;
  /** The end of the last transaction handed out (or skipped): where the stream may resume. */
  private completed: Lsn;
  private readonly maxEvents: number;
  private readonly maxBytes: number;

  constructor(
    private readonly host: StreamHost,
    /** Where this session resumes: transactions before are delivered already. */
    private readonly resume: StreamPosition,
  ) {
    this.completed = resume.lsn;
    const sinks = host.batchLimits();
    this.maxEvents = Math.min(MAX_BATCH.events, sinks.events);
    this.maxBytes = Math.min(MAX_BATCH.bytes, sinks.bytes);
  }

  /** No transaction is open and nothing waits to be handed out. */
  get idle(): boolean {
    return this.transaction === undefined && this.pending.length === 0;
  }

  /**
   * The server's keepalive says it sent everything before `walEnd`, and nothing is open or pending
   * here: the stream may resume from there. Later positions build on it, so a transaction that
   * began before `walEnd` and commits after it is counted from there (its events, if part-delivered).
   */
  passedIdle(walEnd: Lsn): void {
    if (walEnd > this.completed) this.completed = walEnd;
  }

  /** One pgoutput message, `data` from `offset` on; resolves once it is handled (the next waits for it). */
  onMessage(data: Buffer, offset: number): void | Promise<void> {
    const size = data.length - offset;
    this.host.stats.bytes += size;
    const message = decodePgoutput(data, offset);
    switch (message.tag) {
      case 'begin':
        return this.begin(message);
      case 'commit':
        return this.commit(message.endLsn);
      case 'relation':
        return this.registerRelation(message);
      case 'insert':
      case 'update':
      case 'delete':
      case 'truncate':
        return this.change(message, size);
      case 'message':
        return this.logicalMessage(message, size);
      case 'type':
      case 'origin':
        return;
    }
  }

  private begin(message: Extract<PgoutputMessage, { tag: 'begin' }>): void {
    const time = pgTime(message.commitTimeMicros);
    const { resume } = this;
    // Committed before the resume point: delivered already (the server may send it again when the
    // slot's confirmed position is behind ours, e.g. with wal_retain).
    const delivered = message.finalLsn < resume.lsn;
    const partial = resume.partial?.commitLsn === message.finalLsn ? resume.partial.events : 0;
    this.transaction = {
      commitLsn: message.finalLsn,
      lsnText: formatLsn(message.finalLsn),
      commitTime: time.iso,
      commitMs: time.ms,
      xid: message.xid,
      sequence: 0,
      skipEvents: delivered ? Number.POSITIVE_INFINITY : partial,
    };
    if (this.pending.length === 0) this.pendingOrigin = time.ms;
  }

  private async commit(endLsn: Lsn): Promise<void> {
    const transaction = this.transaction;
    this.transaction = undefined;
    if (transaction === undefined) throw new StreamProtocolError('commit outside a transaction');
    this.host.received(endLsn);
    if (endLsn > this.completed) this.completed = endLsn;
    if (this.full || !this.host.backlog()) await this.flush();
  }

  private get full(): boolean {
    return this.pending.length >= this.maxEvents || this.pendingBytes >= this.maxBytes;
  }

  /** Hands out what is pending, with the position it completes. */
  async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const events = this.pending;
    const bytes = this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    const transaction = this.transaction;
    const position: StreamPosition =
      transaction === undefined
        ? { lsn: this.completed }
        : {
            lsn: this.completed,
            partial: { commitLsn: transaction.commitLsn, events: transaction.sequence },
          };
    const origin = this.pendingOrigin;
    this.pendingOrigin = transaction?.commitMs ?? 0;
    await this.host.dispatch(events, bytes, origin, position);
  }

  private async registerRelation(message: Extract<PgoutputMessage, { tag: 'relation' }>): Promise<void> {
    const { relation } = message;
    const { types } = this.host;
    if (relation.columns.some((c) => !types.knows(c.typeOid))) {
      types.load((await this.host.side().query(TYPE_QUERY)).rows);
    }
    const primaryKey = Table.needsPrimaryKey(relation)
      ? await indexColumns(this.host.side(), relation.id, 'primary')
      : undefined;
    this.relations.set(relation.id, Table.fromRelation(relation, types, primaryKey));
  }

  private table(relationId: number): Table {
    const table = this.relations.get(relationId);
    if (table === undefined)
      throw new StreamProtocolError(`change for relation ${relationId} before its relation message`);
    return table;
  }

  private change(
    message: Extract<PgoutputMessage, { tag: 'insert' | 'update' | 'delete' | 'truncate' }>,
    size: number,
  ): void | Promise<void> {
    const transaction = this.transaction;
    if (transaction === undefined) throw new StreamProtocolError(`${message.tag} outside a transaction`);
    // Delivered before a restart as a whole: not even decoded.
    if (transaction.skipEvents === Number.POSITIVE_INFINITY) return;
    if (message.tag === 'truncate') {
      for (const id of message.relationIds)
        this.pushChange(transaction, this.table(id), 'truncate', null, null, null, [], size);
    } else {
      this.rowChange(transaction, this.table(message.relationId), message, size);
    }
    if (this.full) return this.flush();
  }

  /**
   * The events of one row change. An update that changes the key is a delete of the old key before
   * the update, so a consumer keeping the last event per key (log compaction) drops the old key.
   */
  private rowChange(
    transaction: Transaction,
    table: Table,
    message: Extract<PgoutputMessage, { tag: 'insert' | 'update' | 'delete' }>,
    size: number,
  ): void {
    switch (message.tag) {
      case 'insert': {
        const { row, unchanged } = table.decode(message.newTuple);
        this.pushChange(transaction, table, 'insert', table.key(row), row, null, unchanged, size);
        return;
      }
      case 'update': {
        let old: Row | null = null;
        if (message.oldTuple !== null)
          old =
            message.oldKind === 'key'
              ? table.decodeIdentity(message.oldTuple)
              : table.decode(message.oldTuple).row;
        const { row, unchanged } = table.decode(message.newTuple);
        let missing = unchanged;
        if (unchanged.length > 0 && message.oldKind === 'old' && old !== null) {
          // REPLICA IDENTITY FULL: the old row carries the value the server left out of the new one.
          missing = unchanged.filter((column) => {
            if (!(column in old)) return true;
            row[column] = old[column]!;
            return false;
          });
        }
        const key = table.key(row);
        const oldKey = old === null ? null : table.key(old);
        if (oldKey !== null && key !== null && JSON.stringify(oldKey) !== JSON.stringify(key))
          this.pushChange(transaction, table, 'delete', oldKey, null, old, [], size);
        this.pushChange(transaction, table, 'update', key, row, old, missing, size);
        return;
      }
      case 'delete': {
        const old =
          message.oldKind === 'key'
            ? table.decodeIdentity(message.oldTuple)
            : table.decode(message.oldTuple).row;
        this.pushChange(transaction, table, 'delete', table.key(old), null, old, [], size);
        return;
      }
    }
  }

  private pushChange(
    transaction: Transaction,
    table: Table,
    action: ChangeEvent['action'],
    key: Row | null,
    columns: Row | null,
    old: Row | null,
    unchangedToast: string[],
    size: number,
  ): void {
    const sequence = transaction.sequence++;
    if (sequence < transaction.skipEvents) return;
    const id = `${transaction.lsnText}:${sequence}`;
    const event = this.host.events.event(id, transaction, table, action, key, columns, old, unchangedToast);
    const { backfills } = this.host;
    if (backfills.active) backfills.observe(event, transaction.xid);
    this.push(event, size);
  }

  private push(event: ChangeEvent, size: number): void {
    this.pending.push(event);
    this.pendingBytes += 2 * size + 200;
    this.host.stats.eventsIn++;
    if (this.host.debug) this.host.log.debug({ event }, 'received');
  }

  private logicalMessage(
    message: Extract<PgoutputMessage, { tag: 'message' }>,
    size: number,
  ): void | Promise<void> {
    if (message.prefix === BACKFILL_PREFIX) return this.backfillWatermark(message);
    if (message.prefix === HEARTBEAT_PREFIX || !this.host.config.messages) return;
    const columns = {
      prefix: message.prefix,
      content: message.content.toString('utf8'),
      transactional: message.transactional,
    };
    if (message.transactional) {
      const transaction = this.transaction;
      if (transaction === undefined)
        throw new StreamProtocolError('transactional message outside a transaction');
      const sequence = transaction.sequence++;
      if (sequence < transaction.skipEvents) return;
      const id = `${transaction.lsnText}:${sequence}`;
      this.push(this.host.events.event(id, transaction, null, 'message', null, columns, null, []), size);
      return;
    }
    // Outside any transaction: it completes no resumable position (after a restart it may come again).
    const lsnText = formatLsn(message.lsn);
    if (this.pending.length === 0) this.pendingOrigin = Date.now();
    const origin = { lsnText, xid: null, commitTime: null };
    this.push(this.host.events.event(`${lsnText}:0`, origin, null, 'message', null, columns, null, []), size);
    if (!this.host.backlog()) return this.flush();
  }

  /**
   * A backfill chunk's watermark. At the high one, the chunk's rows (those no live change
   * overtook) take its place in the stream: after everything before it, before everything after.
   */
  private async backfillWatermark(message: Extract<PgoutputMessage, { tag: 'message' }>): Promise<void> {
    const transaction = this.transaction;
    if (!message.transactional || transaction === undefined || transaction.skipEvents > 0) return;
    const release = this.host.backfills.marker(message.content.toString('utf8'), transaction.lsnText);
    if (release === undefined) return;
    await this.flush();
    await this.host.emitRows(release.events, release.bytes, release.onDelivered);
    release.handedOut();
  }
}
