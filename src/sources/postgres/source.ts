import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { Backoff } from '../../core/backoff.js';
import type { SourceBatch } from '../../core/batch.js';
import { errorMessage, isRetriable } from '../../core/errors.js';
import type { ChangeEvent, Row } from '../../core/event.js';
import { Drain } from '../../core/drain.js';
import { type BackfillRequest, Source, type SourceContext } from '../../core/source.js';
import { Waiters } from '../../core/waiters.js';
import { Watermark } from '../../core/watermark.js';
import type { StateStore } from '../../state/store.js';
import { BACKFILL_PREFIX, Backfills } from './backfill/backfill.js';
import { type PostgresSourceConfig, qualify } from './config.js';
import { type ParsedDsn, clientConfig, connect, parseDsn } from './protocol/dsn.js';
import { type Lsn, formatLsn, lsnToBigInt, maxLsn } from '../../core/lsn.js';
import { type PgoutputMessage, decodePgoutput, pgTime } from './protocol/pgoutput.js';
import { RelationShape } from './schema/relation.js';
import { ReplicationStream } from './protocol/replication.js';
import { classifyServerError } from './errors.js';
import { ProgressBoard } from './snapshot/progress.js';
import { type SetupOptions, ensureSlot, preparePublication, primaryKey } from './setup.js';
import { InitialSnapshot } from './snapshot/initial.js';
import { SnapshotStore } from './snapshot/store.js';
import { TYPE_QUERY, TypeRegistry } from './schema/values.js';

/** Prefix of the logical messages `heartbeat` emits; they advance the slot and are never relayed. */
export const HEARTBEAT_PREFIX = 'pgrelay.heartbeat';
/**
 * Session settings that fix the text forms values.ts parses, and the string syntax the condition
 * check (condition.ts) reads operators' conditions with.
 */
const SESSION_OPTIONS =
  '-c DateStyle=ISO -c TimeZone=UTC -c IntervalStyle=iso_8601 -c extra_float_digits=3 -c bytea_output=hex ' +
  '-c standard_conforming_strings=on';
/** Events per batch handed to the router in the middle of a large transaction. */
const MAX_BATCH_EVENTS = 2000;
/** Positions are written to SQLite at most this often (each write is an fsync). */
const PERSIST_INTERVAL_MS = 100;

interface Transaction {
  lsn: Lsn;
  lsnText: string;
  commitTime: string;
  commitMs: number;
  xid: number;
  sequence: number;
  /** Already delivered before a restart: the server may resend it when we rewound. */
  skip: boolean;
}

/**
 * Streams committed changes of a publication from a logical replication slot (pgoutput). The stored
 * position is the commit end LSN of the last transaction every sink acknowledged, together with all
 * before it; PostgreSQL is told `stored − wal_retain`, never more, never backwards.
 */
export class PostgresSource extends Source {
  private readonly dsn: ParsedDsn;
  private connectionConfig: pg.ClientConfig;
  private readonly slot: string;
  private readonly types = new TypeRegistry();
  private readonly relations = new Map<number, RelationShape>();
  private readonly watermark: Watermark<Lsn>;
  /** Origin time of each batch in flight, oldest first, for lag.seconds. */
  private readonly inFlightOrigins = new Map<number, number>();
  private readonly drain = new Drain(() => this.watermark.inFlight === 0);
  private readonly progress: ProgressBoard;
  private readonly snapshot: InitialSnapshot;
  private readonly backfills: Backfills;
  /** True while the replication stream runs; backfills wait for it. */
  private streaming = false;
  private readonly streamingWaiters = new Waiters();

  /** Everything up to here is delivered (acknowledged by every sink). */
  private delivered: Lsn = 0n;
  /** Persisted in SQLite; what a restart resumes from. */
  private stored: Lsn | undefined;
  /** What PostgreSQL was last told (confirmed_flush_lsn). */
  private confirmed: Lsn = 0n;
  /** The furthest WAL position the server reported. */
  private received: Lsn = 0n;
  /** Decoding skips transactions committed before this (see Transaction.skip). */
  private resumeFrom: Lsn = 0n;

  private transaction: Transaction | undefined;
  private pending: ChangeEvent[] = [];
  private pendingBytes = 0;
  private pendingOrigin = 0;

  private stream: ReplicationStream | undefined;
  private side: pg.Client | undefined;
  private loop: Promise<void> | undefined;
  private inputStopped = false;
  private readonly abort = new AbortController();
  private persistTimer: NodeJS.Timeout | undefined;
  private timers: NodeJS.Timeout[] = [];

  constructor(
    name: string,
    private readonly config: PostgresSourceConfig,
    slot: string,
    context: SourceContext,
    private readonly state: StateStore,
  ) {
    super(name, 'postgres', context);
    this.dsn = parseDsn(config.dsn);
    this.connectionConfig = clientConfig(this.dsn, {
      applicationName: config.application_name,
      connectTimeoutMs: config.connect_timeout,
      options: SESSION_OPTIONS,
    });
    this.slot = slot;
    this.watermark = new Watermark<Lsn>(undefined, (position) => this.advance(position));
    this.health.details = {
      slot,
      publication: config.publication,
      host: this.dsn.host,
      database: this.dsn.database,
    };
    this.progress = new ProgressBoard(name, this.log, this.metrics);
    for (const kind of ['snapshot', 'backfill'] as const) {
      Object.defineProperty(this.health.details, kind, {
        enumerable: true,
        get: () => this.progress.report(kind),
      });
    }
    // What snapshots and backfills use of this source: connections, the router, its state.
    const host = {
      name,
      config,
      log: this.log,
      types: this.types,
      store: new SnapshotStore(this.state, name),
      progress: this.progress,
      origin: { host: this.dsn.host, database: this.dsn.database },
      connect: (replication = false) => this.connect(replication),
      emitRows: (events: ChangeEvent[], bytes: number, onDelivered: () => void) =>
        this.emitRows(events, bytes, onDelivered),
      stopping: () => this.inputStopped,
      drained: () => this.drain.until(this.abort.signal),
      reading: () => this.health.set('running'),
      streaming: () => this.streaming,
      whenStreaming: (signal: AbortSignal) =>
        this.streaming ? Promise.resolve() : this.streamingWaiters.wait(signal),
    };
    this.snapshot = new InitialSnapshot(host);
    this.backfills = new Backfills(host);
    const stored = this.state.get(name);
    if (stored !== undefined) {
      this.stored = lsnToBigInt(stored.position);
      this.delivered = this.stored;
      this.health.position = formatLsn(this.stored);
    }
  }

  start(): void {
    this.loop ??= this.run();
  }

  stopInput(): void {
    this.inputStopped = true;
  }

  override backfill(request: BackfillRequest): Promise<string> {
    return this.backfills.start(request);
  }

  async stop(deadline: AbortSignal): Promise<void> {
    this.inputStopped = true;
    await this.backfills.stop();
    await this.drain.until(deadline);
    this.abort.abort();
    this.persist();
    this.sendStatus();
    for (const timer of this.timers) clearInterval(timer);
    this.progress.close();
    await this.closeSession();
    await this.loop;
    if (this.health.state !== 'failed') this.health.set('stopped');
  }

  private async run(): Promise<void> {
    const backoff = new Backoff({ initialMs: this.config.retry_initial, maxMs: this.config.retry_max });
    const signal = this.abort.signal;
    while (!signal.aborted) {
      try {
        const outcome = await this.session(() => backoff.reset());
        if (signal.aborted) break;
        if (outcome === 'finished') return this.finish();
        throw new Error('replication stream ended');
      } catch (caught) {
        await this.closeSession();
        if (signal.aborted) break;
        const error = classifyServerError(this.name, caught);
        if (!isRetriable(error)) {
          this.fail(error);
          return;
        }
        const delay = backoff.next();
        this.retrying(error, delay);
        // Resume from an exact position: let in-flight batches land first (their acks still count).
        await this.drain.until(signal);
        this.persist();
        await sleep(delay, undefined, { signal }).catch(() => undefined);
      }
    }
  }

  /**
   * One connection: check the server, take the initial snapshot when one is due, then stream until
   * an error or stop(). 'finished': the source is done (snapshot = "initial_only").
   */
  private async session(onStreaming: () => void): Promise<'ended' | 'finished'> {
    this.transaction = undefined;
    this.pending = [];
    this.pendingBytes = 0;
    this.relations.clear();
    this.side = await this.connect();
    if (this.config.snapshot !== 'initial_only')
      await preparePublication(this.side, this.setupOptions(), this.log);
    this.types.load((await this.side.query(TYPE_QUERY)).rows);
    const snapshot = await this.snapshot.run(this.side, this.setupOptions());
    if (snapshot.action === 'stop') return 'finished';
    if (snapshot.action === 'interrupted') {
      // Input stopped mid-snapshot: nothing more to do until stop() ends the session.
      const signal = this.abort.signal;
      if (!signal.aborted)
        await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
      return 'ended';
    }
    if (snapshot.from !== undefined) {
      this.stored = snapshot.from;
      this.delivered = maxLsn(this.delivered, snapshot.from);
    }
    const stored = this.stored;
    const slot = await ensureSlot(this.side, this.setupOptions(), this.log);
    this.resumeFrom = stored ?? slot.confirmed;
    this.delivered = maxLsn(this.delivered, this.resumeFrom);
    this.confirmed = maxLsn(this.confirmed, slot.confirmed);
    this.health.position = formatLsn(this.delivered);

    const stream = new ReplicationStream({
      ...this.connectionConfig,
      replication: 'database',
    } as pg.ClientConfig);
    this.stream = stream;
    // Logical messages carry heartbeats, `messages = true` and backfill watermarks (any time).
    await stream.run(
      { slot: this.slot, publication: this.config.publication, startLsn: stored ?? 0n, messages: true },
      {
        onMessage: (message) => this.onMessage(message),
        onKeepalive: (walEnd, reply) => this.onKeepalive(walEnd, reply),
      },
      () => {
        onStreaming();
        this.health.set('running');
        this.streaming = true;
        this.streamingWaiters.release();
        this.backfills.resume();
        this.log.info(
          { slot: this.slot, publication: this.config.publication, from: formatLsn(this.resumeFrom) },
          `streaming from slot "${this.slot}" at ${formatLsn(this.resumeFrom)}`,
        );
        this.startTimers();
      },
    );
    return 'ended';
  }

  private setupOptions(): SetupOptions {
    const stored = this.stored;
    return {
      source: this.name,
      publication: this.config.publication,
      slot: this.slot,
      tables: this.config.tables.map((t) => (t === '*' ? t : qualify(t))),
      createPublication: this.config.create_publication,
      createSlot: this.config.create_slot,
      stored,
      storedText: stored === undefined ? undefined : formatLsn(stored),
    };
  }

  /**
   * A connection honouring sslmode=prefer; the settings that worked serve later ones too.
   * `replication`: a walsender connection (replication commands).
   */
  private async connect(replication = false): Promise<pg.Client> {
    const settings = replication
      ? ({ ...this.connectionConfig, replication: 'database' } as pg.ClientConfig)
      : this.connectionConfig;
    const { client, config } = await connect(settings, this.dsn, (error) =>
      this.log.debug({ err: error }, 'connection error'),
    );
    if (!replication) this.connectionConfig = config;
    return client;
  }

  /** snapshot = "initial_only" completed: the source stops, not failed. */
  private async finish(): Promise<void> {
    await this.closeSession();
    this.health.complete();
  }

  private async closeSession(): Promise<void> {
    this.streaming = false;
    this.backfills.interrupt();
    await this.snapshot.close();
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    const stream = this.stream;
    const side = this.side;
    this.stream = undefined;
    this.side = undefined;
    await stream?.stop().catch(() => undefined);
    await side?.end().catch(() => undefined);
  }

  private startTimers(): void {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [setInterval(() => void this.reportStatus(), this.config.status_interval)];
    if (this.config.heartbeat !== undefined) {
      this.timers.push(setInterval(() => void this.heartbeat(), this.config.heartbeat));
    }
    for (const timer of this.timers) timer.unref();
  }

  // ---- decoding ----------------------------------------------------------------------------------

  private onMessage(buffer: Buffer): void | Promise<void> {
    if (this.inputStopped) return;
    this.stats.bytes += buffer.length;
    const message = decodePgoutput(buffer);
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
        return this.change(message, buffer.length);
      case 'message':
        return this.logicalMessage(message, buffer.length);
      case 'type':
      case 'origin':
        return;
    }
  }

  private begin(message: Extract<PgoutputMessage, { tag: 'begin' }>): void {
    const time = pgTime(message.commitTimeMicros);
    this.transaction = {
      lsn: message.finalLsn,
      lsnText: formatLsn(message.finalLsn),
      commitTime: time.iso,
      commitMs: time.ms,
      xid: message.xid,
      sequence: 0,
      skip: message.finalLsn < this.resumeFrom,
    };
    this.pendingOrigin = time.ms;
  }

  private async commit(endLsn: Lsn): Promise<void> {
    const transaction = this.transaction;
    this.transaction = undefined;
    this.received = maxLsn(this.received, endLsn);
    if (transaction === undefined || transaction.skip) return;
    await this.flush(endLsn);
  }

  private async registerRelation(message: Extract<PgoutputMessage, { tag: 'relation' }>): Promise<void> {
    const { relation } = message;
    if (relation.columns.some((c) => !this.types.knows(c.typeOid))) {
      this.types.load((await this.side!.query(TYPE_QUERY)).rows);
    }
    const key = RelationShape.needsPrimaryKey(relation)
      ? await primaryKey(this.side!, relation.id)
      : undefined;
    this.relations.set(relation.id, new RelationShape(relation, this.types, key));
  }

  private shape(relationId: number): RelationShape {
    const shape = this.relations.get(relationId);
    if (shape === undefined)
      throw new Error(`pgoutput: change for relation ${relationId} before its relation message`);
    return shape;
  }

  private change(
    message: Extract<PgoutputMessage, { tag: 'insert' | 'update' | 'delete' | 'truncate' }>,
    size: number,
  ): void | Promise<void> {
    const transaction = this.transaction;
    if (transaction === undefined) throw new Error(`pgoutput: ${message.tag} outside a transaction`);
    if (transaction.skip) return;
    if (message.tag === 'truncate') {
      for (const id of message.relationIds)
        this.pushChange(
          transaction,
          this.event(transaction, this.shape(id), 'truncate', null, null, null, []),
          size,
        );
    } else {
      const shape = this.shape(message.relationId);
      for (const event of this.rowEvents(transaction, shape, message))
        this.pushChange(transaction, event, size);
    }
    if (this.pending.length >= MAX_BATCH_EVENTS) return this.flush(undefined);
  }

  /**
   * The events of one row change. An update that changes the key is a delete of the old key before
   * the update, so a consumer keeping the last event per key (log compaction) drops the old key.
   */
  private rowEvents(
    transaction: Transaction,
    shape: RelationShape,
    message: Extract<PgoutputMessage, { tag: 'insert' | 'update' | 'delete' }>,
  ): ChangeEvent[] {
    switch (message.tag) {
      case 'insert': {
        const { row, unchanged } = shape.decode(message.newTuple);
        return [this.event(transaction, shape, 'insert', shape.key(row), row, null, unchanged)];
      }
      case 'update': {
        let old: Row | null = null;
        if (message.oldTuple !== null)
          old =
            message.oldKind === 'key'
              ? shape.decodeIdentity(message.oldTuple)
              : shape.decode(message.oldTuple).row;
        const { row, unchanged } = shape.decode(message.newTuple);
        let missing = unchanged;
        if (unchanged.length > 0 && message.oldKind === 'old' && old !== null) {
          // REPLICA IDENTITY FULL: the old row carries the value the server left out of the new one.
          missing = unchanged.filter((column) => {
            if (!(column in old)) return true;
            row[column] = old[column]!;
            return false;
          });
        }
        const key = shape.key(row);
        const oldKey = old === null ? null : shape.key(old);
        const update = (): ChangeEvent => this.event(transaction, shape, 'update', key, row, old, missing);
        if (oldKey === null || key === null || JSON.stringify(oldKey) === JSON.stringify(key))
          return [update()];
        return [this.event(transaction, shape, 'delete', oldKey, null, old, []), update()];
      }
      case 'delete': {
        const old =
          message.oldKind === 'key'
            ? shape.decodeIdentity(message.oldTuple)
            : shape.decode(message.oldTuple).row;
        return [this.event(transaction, shape, 'delete', shape.key(old), null, old, [])];
      }
    }
  }

  private event(
    transaction: Transaction,
    shape: RelationShape | null,
    action: ChangeEvent['action'],
    key: Row | null,
    columns: Row | null,
    old: Row | null,
    unchangedToast: string[],
  ): ChangeEvent {
    return {
      id: `${transaction.lsnText}:${transaction.sequence++}`,
      source: this.name,
      host: this.dsn.host,
      database: this.dsn.database,
      schema: shape?.schema ?? null,
      table: shape?.table ?? null,
      action,
      lsn: transaction.lsnText,
      xid: transaction.xid,
      commit_time: transaction.commitTime,
      key,
      columns,
      old,
      unchanged_toast: unchangedToast,
    };
  }

  private logicalMessage(
    message: Extract<PgoutputMessage, { tag: 'message' }>,
    size: number,
  ): void | Promise<void> {
    if (message.prefix === BACKFILL_PREFIX) return this.backfillWatermark(message);
    if (message.prefix === HEARTBEAT_PREFIX || !this.config.messages) return;
    const columns = {
      prefix: message.prefix,
      content: message.content.toString('utf8'),
      transactional: message.transactional,
    };
    if (message.transactional) {
      const transaction = this.transaction;
      if (transaction === undefined || transaction.skip) return;
      this.push(this.event(transaction, null, 'message', null, columns, null, []), size);
      return;
    }
    // Outside any transaction: its own batch, which completes no resumable position.
    const lsn = formatLsn(message.lsn);
    this.pendingOrigin = Date.now();
    this.push(
      {
        id: `${lsn}:0`,
        source: this.name,
        host: this.dsn.host,
        database: this.dsn.database,
        schema: null,
        table: null,
        action: 'message',
        lsn,
        xid: null,
        commit_time: null,
        key: null,
        columns,
        old: null,
        unchanged_toast: [],
      },
      size,
    );
    return this.flush(undefined);
  }

  /**
   * A backfill chunk's watermark. At the high one, the chunk's rows (those no live change
   * overtook) take its place in the stream: after everything before it, before everything after.
   */
  private async backfillWatermark(message: Extract<PgoutputMessage, { tag: 'message' }>): Promise<void> {
    const transaction = this.transaction;
    if (!message.transactional || transaction === undefined || transaction.skip) return;
    const release = this.backfills.marker(message.content.toString('utf8'), transaction.lsnText);
    if (release === undefined) return;
    if (this.pending.length > 0) await this.flush(undefined);
    await this.emitRows(release.events, release.bytes, release.onDelivered);
    release.handedOut();
  }

  private pushChange(transaction: Transaction, event: ChangeEvent, size: number): void {
    if (this.backfills.active) this.backfills.observe(event, transaction.xid);
    this.push(event, size);
  }

  private push(event: ChangeEvent, size: number): void {
    this.pending.push(event);
    this.pendingBytes += 2 * size + 200;
    this.stats.eventsIn++;
    if (this.debug) this.log.debug({ event }, 'received');
  }

  // ---- delivery and positions --------------------------------------------------------------------

  /** Hands pending events to the router; `position` is the commit end when this completes a transaction. */
  private async flush(position: Lsn | undefined): Promise<void> {
    const events = this.pending;
    const bytes = this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    await this.dispatch(events, bytes, this.pendingOrigin, position);
  }

  /** Rows read outside the stream (snapshot, backfill), as one batch; `onDelivered` once every sink holds it. */
  private emitRows(events: ChangeEvent[], bytes: number, onDelivered: () => void): Promise<void> {
    this.stats.eventsIn += events.length;
    if (this.debug) for (const event of events) this.log.debug({ event }, 'received');
    return this.dispatch(events, bytes, Date.now(), undefined, onDelivered);
  }

  /**
   * One batch to the router, tracked by the watermark: `position` is where the source may resume
   * once it and everything before it is acknowledged (undefined: no resumable point).
   */
  private async dispatch(
    events: ChangeEvent[],
    bytes: number,
    originTimeMs: number,
    position: Lsn | undefined,
    onDelivered?: () => void,
  ): Promise<void> {
    if (this.inputStopped) return;
    const batch: SourceBatch = { source: this.name, events, bytes, originTimeMs };
    const ticket = this.watermark.track(position);
    this.inFlightOrigins.set(ticket, originTimeMs);
    this.stats.batches++;
    const count = events.length;
    await this.router.dispatch(batch, () => {
      this.inFlightOrigins.delete(ticket);
      this.stats.eventsOut += count;
      onDelivered?.();
      this.watermark.ack(ticket);
      this.drain.check();
    });
  }

  private advance(position: Lsn): void {
    if (position <= this.delivered) return;
    this.delivered = position;
    this.health.position = formatLsn(position);
    this.persistTimer ??= setTimeout(() => {
      this.persistTimer = undefined;
      this.persist();
      this.sendStatus();
    }, PERSIST_INTERVAL_MS);
  }

  /** Stores the delivered position; only then may PostgreSQL hear of it. */
  private persist(): void {
    clearTimeout(this.persistTimer);
    this.persistTimer = undefined;
    if (this.stored !== undefined && this.delivered <= this.stored) return;
    if (this.delivered === 0n) return;
    this.state.put(this.name, formatLsn(this.delivered), { slot: this.slot });
    this.stored = this.delivered;
  }

  /** confirmed_flush = stored − wal_retain: never past what is stored, never backwards. */
  private sendStatus(replyRequested = false): void {
    const stream = this.stream;
    if (stream === undefined) return;
    if (this.stored !== undefined) {
      const retained = this.stored - BigInt(this.config.wal_retain);
      if (retained > this.confirmed) this.confirmed = retained;
    }
    stream.sendStatus(maxLsn(this.received, this.confirmed), this.confirmed, replyRequested);
  }

  /**
   * The server's keepalive carries the WAL position decoding reached. With nothing received but not
   * delivered, everything before it is delivered, so a quiet publication does not pin WAL.
   */
  private onKeepalive(walEnd: Lsn, _replyRequested: boolean): void {
    this.received = maxLsn(this.received, walEnd);
    const idle =
      !this.inputStopped &&
      this.transaction === undefined &&
      this.pending.length === 0 &&
      this.watermark.inFlight === 0 &&
      !this.stream?.backlog;
    if (idle && walEnd > this.delivered) {
      this.delivered = walEnd;
      this.health.position = formatLsn(walEnd);
      this.persist();
    }
    this.sendStatus();
  }

  private async reportStatus(): Promise<void> {
    this.sendStatus();
    const oldest = this.inFlightOrigins.values().next();
    const lag: { bytes?: number; seconds: number } = {
      seconds: oldest.done ? 0 : Math.max(0, (Date.now() - oldest.value) / 1000),
    };
    try {
      const row = (await this.side?.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn'))
        ?.rows[0];
      if (row) lag.bytes = Math.max(0, Number(lsnToBigInt(row.lsn) - this.delivered));
    } catch (error) {
      this.log.debug({ err: error }, 'lag query failed');
    }
    this.health.lag = lag;
  }

  private async heartbeat(): Promise<void> {
    try {
      await this.side?.query(`SELECT pg_logical_emit_message(false, '${HEARTBEAT_PREFIX}', '')`);
    } catch (error) {
      this.log.warn({ err: error }, `heartbeat failed: ${errorMessage(error)}`);
    }
  }
}
