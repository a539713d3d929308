import type pg from 'pg';
import type { SourceBatch } from '../../core/batch.js';
import type { Lag } from '../../core/component.js';
import { type PgRelayError, errorMessage } from '../../core/errors.js';
import type { ChangeEvent } from '../../core/event.js';
import { Drain } from '../../core/drain.js';
import { type Lsn, lsnToBigInt } from '../../core/lsn.js';
import { type BackfillRequest, Source, type SourceContext } from '../../core/source.js';
import { Waiters } from '../../core/waiters.js';
import { Watermark } from '../../core/watermark.js';
import type { StateFailure, StateStore } from '../../state/store.js';
import { Backfills } from './backfill/backfill.js';
import { type PostgresSourceConfig, publicationFor } from './config.js';
import { classifyServerError, restream } from './errors.js';
import { SlotLease, type SlotLeaseLostError } from './lease.js';
import { SlotPositions, StateFilePositions, type StreamPosition, describePosition } from './positions.js';
import { type ParsedDsn, clientConfig, connect, parseDsn } from './protocol/dsn.js';
import { ReplicationStream } from './protocol/replication.js';
import { EventFactory } from './schema/events.js';
import { TYPE_QUERY, TypeRegistry } from './schema/values.js';
import { type PublicationKeeper, keeperFor } from './publication/keeper.js';
import { type SetupOptions, checkWalLevel, ensureSlot } from './setup.js';
import { InitialSnapshot } from './snapshot/initial.js';
import { ProgressBoard } from './snapshot/progress.js';
import { SourceDatabaseSnapshots } from './snapshot/database-store.js';
import { StateFileSnapshots } from './snapshot/state-file-store.js';
import { ChangeStream, HEARTBEAT_PREFIX } from './stream.js';

/**
 * Session settings that fix the text forms values.ts parses, and the string syntax the condition
 * check (condition.ts) reads operators' conditions with. lc_monetary=C: money in one form whatever
 * the server's locale ("-$1,234.50"; PostgreSQL 15 adds the "$" and "," even for C).
 */
const SESSION_OPTIONS =
  '-c DateStyle=ISO -c TimeZone=UTC -c IntervalStyle=iso_8601 -c extra_float_digits=3 -c bytea_output=hex ' +
  '-c standard_conforming_strings=on -c lc_monetary=C';

/**
 * Streams committed changes of a publication from a logical replication slot (pgoutput): sets up
 * publication and slot, takes the initial snapshot when one is due, then streams (stream.ts),
 * reconnecting with backoff. Positions (positions.ts) move only when every sink acknowledged
 * everything before them; PostgreSQL is told `stored − wal_retain`, never more, never backwards.
 */
export class PostgresSource extends Source {
  private readonly dsn: ParsedDsn;
  private connectionConfig: pg.ClientConfig;
  private readonly types = new TypeRegistry();
  private readonly events: EventFactory;
  private readonly watermark: Watermark<StreamPosition>;
  private readonly positions: SlotPositions;
  /** standby = true: the right to stream the slot and store its position (lease.ts). */
  private readonly lease: SlotLease | undefined;
  private readonly drain = new Drain(() => this.watermark.inFlight === 0);
  private readonly progress: ProgressBoard;
  private readonly snapshot: InitialSnapshot;
  private readonly backfills: Backfills;
  private readonly publications: PublicationKeeper;
  /** publication_names of the running session. */
  private streamed: readonly string[] = [];
  /** A publication the next session names and this one could not: this one ends (see PublicationKeeper). */
  private restream: string | undefined;
  /** True while the replication stream runs; backfills wait for it. */
  private streaming = false;
  private readonly streamingWaiters = new Waiters();

  private stream: ReplicationStream | undefined;
  private side: pg.Client | undefined;
  private loop: Promise<void> | undefined;
  private inputStopped = false;
  private readonly abort = new AbortController();
  private timers: NodeJS.Timeout[] = [];
  /**
   * Set when the lease was lost during the session: whatever the session then ends with (its
   * connections closed under it), it ends for that reason, and is retried (standing by).
   */
  private leaseLostInSession: SlotLeaseLostError | undefined;
  /** Set when the source must stop for good whatever its session ends with (the state file is gone). */
  private halted: PgRelayError | undefined;
  private readonly unwatchState: () => void;
  private finished = false;

  constructor(
    name: string,
    private readonly config: PostgresSourceConfig,
    private readonly slot: string,
    context: SourceContext,
    state: StateStore,
  ) {
    super(name, 'postgres', context);
    this.dsn = parseDsn(config.dsn);
    this.connectionConfig = clientConfig(this.dsn, {
      applicationName: config.application_name,
      connectTimeoutMs: config.connect_timeout,
      options: SESSION_OPTIONS,
    });
    this.events = new EventFactory(name, this.dsn.host, this.dsn.database);
    this.publications = keeperFor(name, config, slot, state.get(name), {
      log: this.log,
      health: this.health,
      metrics: context.metrics,
    });
    const publication = this.publications.publication;
    this.lease = config.standby
      ? new SlotLease({
          source: name,
          slot,
          interval: config.standby_interval,
          log: this.log,
          connect: () => this.connect(),
          publication: () => this.publications.publication,
          lost: (error) => this.leaseLost(error),
        })
      : undefined;
    const stateFile = new StateFilePositions(state, name, slot, publication);
    this.positions = new SlotPositions(
      this.lease ?? stateFile,
      this.lease === undefined ? stateFile.read() : undefined,
      config.wal_retain,
      (position) => {
        this.health.position = describePosition(position);
      },
    );
    this.watermark = new Watermark<StreamPosition>(undefined, (position) => this.positions.advance(position));
    this.health.details = {
      slot,
      publication,
      host: this.dsn.host,
      database: this.dsn.database,
    };
    const resume = this.positions.resume;
    if (resume !== undefined) this.health.position = describePosition(resume);
    this.progress = new ProgressBoard(name, this.log, this.metrics);
    for (const kind of ['snapshot', 'backfill'] as const) {
      Object.defineProperty(this.health.details, kind, {
        enumerable: true,
        get: () => this.progress.report(kind),
      });
    }
    const lease = this.lease;
    // Every instance of a standby source shows who streams: itself, or the one it stands by for.
    if (lease !== undefined)
      Object.defineProperty(this.health.details, 'holder', {
        enumerable: true,
        get: () => lease.holderNow ?? null,
      });
    // What snapshots and backfills use of this source: connections, the router, its state.
    const keeper = this.publications;
    const host = {
      name,
      config,
      get publications() {
        return keeper.publications;
      },
      log: this.log,
      types: this.types,
      events: this.events,
      store:
        this.lease === undefined
          ? new StateFileSnapshots(state, name, stateFile)
          : new SourceDatabaseSnapshots(this.lease, name, slot),
      progress: this.progress,
      connect: (replication = false) => this.connect(replication),
      emitRows: (events: ChangeEvent[], bytes: number, onDelivered: () => void) =>
        this.emitRows(events, bytes, onDelivered),
      batchLimits: () => this.router.batchLimits(this.name),
      stopping: () => this.inputStopped,
      drained: () => this.drain.until(this.abort.signal),
      reading: () => this.health.set('running'),
      streaming: () => this.streaming,
      whenStreaming: (signal: AbortSignal) =>
        this.streaming ? Promise.resolve() : this.streamingWaiters.wait(signal),
    };
    this.snapshot = new InitialSnapshot(host);
    this.backfills = new Backfills(host);
    this.unwatchState = state.watch((failure) => this.stateFailed(failure));
    // Built by a reload while the state file fails: the watchers heard of it before this source.
    if (state.failure !== undefined) this.stateFailed(state.failure);
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
    await this.positions.flush();
    this.positions.confirm();
    this.positions.close();
    this.unwatchState();
    for (const timer of this.timers) clearInterval(timer);
    this.progress.close();
    await this.closeSession();
    await this.loop;
    // Last, once the final position is stored: a standby takes over from it.
    await this.lease?.release();
    if (this.health.state !== 'failed') this.health.set('stopped');
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    const outcome = await this.supervisor({
      initialMs: this.config.retry_initial,
      maxMs: this.config.retry_max,
      signal,
      classify: (error) =>
        this.halted ?? this.leaseLostInSession ?? classifyServerError(this.name, error, this.slot),
    }).run((ready) => this.session(ready), {
      cleanup: () => this.closeSession(),
      beforeRetry: async () => {
        // Resume from an exact position: let in-flight batches land first (their acks still count).
        await this.drain.until(signal);
        await this.positions.flush();
      },
    });
    this.finished = true;
    // Failed (or done): a standby takes over. Stopped: stop() releases it after the last write.
    if (outcome !== 'stopped') await this.lease?.release();
    // snapshot = "initial_only" completed: the source stops, not failed.
    if (outcome === 'done') {
      await this.closeSession();
      this.health.complete();
    }
  }

  /**
   * The state file cannot store positions: while it cannot be written (a full disk) the source goes
   * on and shows the failure, its positions held, until a write succeeds; a file that is gone stops it.
   */
  private stateFailed(failure: StateFailure | undefined): void {
    if (failure === undefined) this.health.release();
    else if (failure.retriable) this.health.hold(failure);
    else this.halt(failure);
  }

  /** Another instance holds the slot: this one waits to take over, healthy. */
  private standingBy(why: string): void {
    if (this.health.state === 'standby') return;
    this.health.set('standby');
    this.log.info(
      { slot: this.slot },
      `source ${this.name}: standing by: ${why}; checking every ${this.config.standby_interval} ms`,
    );
  }

  /**
   * The publication the instance that held the slot before recorded with its position (none: it
   * recorded none): this one streams the same, as a restart would (see publicationFor), unless the
   * config names one.
   */
  private streamRecorded(recorded: string | undefined): void {
    if (recorded === undefined) return;
    const { name } = publicationFor(this.name, this.config.publication, { meta: { publication: recorded } });
    if (name === this.publications.publication) return;
    this.log.info(
      { publication: name },
      `source ${this.name} streams publication "${name}", which the instance that held slot "${this.slot}" recorded`,
    );
    this.publications.streamInstead(name);
    this.health.details.publication = name;
  }

  /**
   * The position session ended: stop streaming at once, so only the new holder streams, and stop
   * the backfills, which the new holder continues from what is stored (this one, should it hold the
   * lease again, from there too).
   */
  private leaseLost(error: SlotLeaseLostError): void {
    if (this.abort.signal.aborted) return;
    this.log.warn({ err: error }, error.message);
    this.leaseLostInSession = error;
    this.health.set('retrying', error);
    void this.closeSession();
    void this.backfills.stop();
  }

  /** Ends the session now and the source for good: the supervisor reports `error` (failed). */
  private halt(error: PgRelayError): void {
    if (this.halted !== undefined || this.finished || this.abort.signal.aborted) return;
    this.halted = error;
    void this.closeSession();
  }

  /**
   * One connection: check the server, take the initial snapshot when one is due, then stream until
   * an error or stop(). 'done': the source's work is done (snapshot = "initial_only").
   */
  private async session(onStreaming: () => void): Promise<'ended' | 'done'> {
    this.leaseLostInSession = undefined;
    if (this.lease !== undefined && !this.lease.held) {
      const taken = await this.lease.acquire(this.abort.signal, (why) => this.standingBy(why));
      this.positions.takeOver(taken.position);
      this.streamRecorded(taken.publication);
    }
    // As this instance, or the one that held the slot before, left them.
    await this.snapshot.restore();
    await this.backfills.restore();
    this.side = await this.connect();
    if (this.halted !== undefined) throw this.halted;
    let added: string[] = [];
    if (this.config.snapshot !== 'initial_only') {
      await checkWalLevel(this.side, this.name);
      const prepared = await this.publications.prepare(this.side, this.positions.resume?.lsn);
      this.streamed = prepared.publications;
      if (prepared.resumed) added = prepared.added;
    }
    this.types.load((await this.side.query(TYPE_QUERY)).rows);
    const snapshot = await this.snapshot.run(this.side, this.setupOptions());
    if (snapshot.action === 'stop') return 'done';
    if (snapshot.action === 'interrupted') {
      // Input stopped mid-snapshot: nothing more to do until stop() ends the session.
      const signal = this.abort.signal;
      if (!signal.aborted)
        await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
      return 'ended';
    }
    if (snapshot.from !== undefined) this.positions.snapshotStored({ lsn: snapshot.from });
    const stored = this.positions.resume;
    const slot = await ensureSlot(this.side, this.setupOptions(), this.log);
    const from = stored ?? { lsn: slot.confirmed };
    const stream = new ReplicationStream({
      ...this.connectionConfig,
      replication: 'database',
    } as pg.ClientConfig);
    this.stream = stream;
    this.positions.startSession(from, slot.confirmed, (received, flushed, reply) =>
      stream.sendStatus(received, flushed, reply),
    );
    const changes = new ChangeStream(this.streamHost(stream), from);
    // Lost while setting up: closeSession() ran before this stream existed to be stopped.
    this.lease?.check();
    // Logical messages carry heartbeats, `messages = true` and backfill watermarks (any time).
    await stream.run(
      { slot: this.slot, publications: this.streamed, startLsn: stored?.lsn ?? 0n, messages: true },
      {
        onMessage: (data, offset) => (this.inputStopped ? undefined : changes.onMessage(data, offset)),
        onKeepalive: (walEnd, replyRequested) => {
          const idle = this.idle(stream, changes);
          if (idle) changes.passedIdle(walEnd);
          this.positions.keepalive(walEnd, idle, replyRequested);
        },
      },
      () => {
        onStreaming();
        this.health.set('running');
        this.streaming = true;
        this.streamingWaiters.release();
        this.backfills
          .resume()
          .catch((error: unknown) =>
            this.log.warn({ err: error }, `backfills cannot be continued yet: ${errorMessage(error)}`),
          );
        this.log.info(
          { slot: this.slot, publications: this.streamed, from: describePosition(from) },
          `streaming from slot "${this.slot}" at ${describePosition(from)}`,
        );
        this.startTimers();
        this.backfillAdded(added);
      },
    );
    const publication = this.restream;
    this.restream = undefined;
    if (publication !== undefined) throw restream(this.name, publication);
    return 'ended';
  }

  /** What the change stream of one session needs from this source. */
  private streamHost(stream: ReplicationStream) {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const source = this;
    return {
      name: this.name,
      config: this.config,
      log: this.log,
      stats: this.stats,
      get debug() {
        return source.debug;
      },
      events: this.events,
      types: this.types,
      backfills: this.backfills,
      side: () => {
        if (this.side === undefined) throw new Error('no catalog connection: the session ended');
        return this.side;
      },
      backlog: () => stream.backlog,
      batchLimits: () => this.router.batchLimits(this.name),
      received: (endLsn: Lsn) => this.positions.receivedUpTo(endLsn),
      dispatch: (
        events: ChangeEvent[],
        bytes: number,
        originMs: number,
        position: StreamPosition | undefined,
      ) => this.dispatch(events, bytes, originMs, position),
      emitRows: (events: ChangeEvent[], bytes: number, onDelivered: () => void) =>
        this.emitRows(events, bytes, onDelivered),
    };
  }

  /** Nothing received is waiting to be delivered: a keepalive's WAL end may become the position. */
  private idle(stream: ReplicationStream, changes: ChangeStream): boolean {
    return !this.inputStopped && changes.idle && this.watermark.inFlight === 0 && !stream.backlog;
  }

  private setupOptions(): SetupOptions {
    const stored = this.positions.resume;
    return {
      source: this.name,
      slot: this.slot,
      createSlot: this.config.create_slot,
      stored: stored?.lsn,
      storedText: stored === undefined ? undefined : describePosition(stored),
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

  private async closeSession(): Promise<void> {
    this.streaming = false;
    this.backfills.interrupt();
    await this.snapshot.close();
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    this.positions.endSession();
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

  // ---- delivery ----------------------------------------------------------------------------------

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
    position: StreamPosition | undefined,
    onDelivered?: () => void,
  ): Promise<void> {
    if (this.inputStopped) return;
    const batch: SourceBatch = { source: this.name, events, bytes, originTimeMs };
    const ticket = this.watermark.track(position, originTimeMs);
    this.stats.batches++;
    const count = events.length;
    await this.router.dispatch(batch, () => {
      this.stats.eventsOut += count;
      onDelivered?.();
      this.watermark.ack(ticket);
      this.drain.check();
    });
  }

  // ---- status ------------------------------------------------------------------------------------

  private async reportStatus(): Promise<void> {
    this.positions.confirm();
    const oldest = this.watermark.oldestOrigin;
    const lag: Lag = { seconds: oldest === undefined ? 0 : Math.max(0, (Date.now() - oldest) / 1000) };
    try {
      const row = (
        await this.side?.query<{
          lsn: string;
          retained: string | null;
          status: string | null;
          safe: string | null;
        }>(
          `SELECT pg_current_wal_lsn()::text AS lsn, (pg_current_wal_lsn() - s.restart_lsn)::int8 AS retained,
                  s.wal_status AS status, s.safe_wal_size::int8 AS safe
             FROM (SELECT 1) one LEFT JOIN pg_replication_slots s ON s.slot_name = $1`,
          [this.slot],
        )
      )?.rows[0];
      if (row) {
        lag.bytes = Math.max(0, Number(lsnToBigInt(row.lsn) - this.positions.delivered.lsn));
        if (row.retained !== null) lag.retained_wal_bytes = Number(row.retained);
        this.health.details.wal = {
          slot_status: row.status,
          // Bytes the slot may still fall behind before max_slot_wal_keep_size invalidates it.
          safe_bytes: row.safe === null ? null : Number(row.safe),
        };
      }
    } catch (error) {
      this.log.debug({ err: error }, 'lag query failed');
    }
    this.health.lag = lag;
    await this.checkPublications();
  }

  /** Tables that dropped out of the publications (dropped and recreated) are added again, and backfilled. */
  private async checkPublications(): Promise<void> {
    const side = this.side;
    if (side === undefined || !this.streaming || this.config.snapshot === 'initial_only') return;
    const { added, restream } = await this.publications.check(
      side,
      this.positions.delivered.lsn,
      this.streamed,
    );
    this.backfillAdded(added);
    if (restream !== undefined && this.restream === undefined) {
      this.restream = restream;
      await this.stream?.stop();
    }
  }

  /**
   * Tables added to a publication after the source streamed: what was written to them before was
   * not streamed (a table dropped and recreated, or added to tables), so they are backfilled.
   */
  private backfillAdded(tables: readonly string[]): void {
    for (const table of tables) {
      const gap = `rows written to ${table} before it was published were not streamed`;
      if (!this.config.backfill_added_tables) {
        this.log.warn(
          { table },
          `${gap} (backfill_added_tables = false): pgrelay backfill -c CONFIG --source ${this.name} --table ${table} sends them`,
        );
        continue;
      }
      this.backfills.start({ table }).then(
        (id) => this.log.info({ table, backfill: id }, `${gap}: backfill ${id} sends them`),
        (error: unknown) =>
          this.log.warn({ table, err: error }, `${gap}, and cannot be backfilled: ${errorMessage(error)}`),
      );
    }
  }

  private async heartbeat(): Promise<void> {
    try {
      await this.side?.query(`SELECT pg_logical_emit_message(false, '${HEARTBEAT_PREFIX}', '')`);
    } catch (error) {
      this.log.warn({ err: error }, `heartbeat failed: ${errorMessage(error)}`);
    }
  }
}
