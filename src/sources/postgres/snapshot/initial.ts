import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { ChangeEvent } from '../../../core/event.js';
import { type PostgresSourceConfig, qualify } from '../config.js';
import { type Lsn, formatLsn, lsnToBigInt } from '../../../core/lsn.js';
import { type ProgressBoard, TableProgress } from './progress.js';
import { literal } from '../protocol/replication.js';
import { type SetupOptions, createSlotWithSnapshot, findSlot } from '../setup.js';
import { INITIAL_RUN, type SnapshotStore, type TableRun } from './store.js';
import { ChunkConverter, estimateRows, planRead, readChunks, readOnly } from './chunks.js';
import { ChunkLedger } from './ledger.js';
import type { EventFactory } from '../schema/events.js';
import type { TypeRegistry } from '../schema/values.js';
import { StateError } from '../../../state/store.js';

/** How often a snapshot's completion is tried again while the state file cannot be written. */
const COMPLETION_RETRY_MS = 1000;

/** What snapshots and backfills need from their source. */
export interface RowsHost {
  readonly name: string;
  readonly config: PostgresSourceConfig;
  /** The source's publications (its own and the insert-only one): what rows are read as. */
  readonly publications: readonly string[];
  readonly log: Logger;
  readonly types: TypeRegistry;
  readonly store: SnapshotStore;
  readonly progress: ProgressBoard;
  /** Builds the rows' events. */
  readonly events: EventFactory;
  /** A connection with the source's session settings; `replication`: a walsender connection. */
  connect(replication?: boolean): Promise<pg.Client>;
  /** Hands rows to the router (waiting for buffer room); `onDelivered` runs once every sink holds them. */
  emitRows(events: ChangeEvent[], bytes: number, onDelivered: () => void): Promise<void>;
  /** Most events per batch the source's sinks take. */
  batchLimits(): { events: number };
  /** True once the source stopped taking input. */
  stopping(): boolean;
}

export interface SnapshotHost extends RowsHost {
  /** Resolves once every batch handed out is acknowledged, or the source stops. */
  drained(): Promise<void>;
  /** The snapshot starts reading: the source is running. */
  reading(): void;
}

export type SnapshotOutcome =
  /** Stream next; `from` is the position the snapshot stored, where the stream starts. */
  | { action: 'stream'; from?: Lsn }
  /** snapshot = "initial_only" and the snapshot is complete: the source stops. */
  | { action: 'stop' }
  /** The source stopped taking input before the snapshot was complete. */
  | { action: 'interrupted' };

/**
 * The initial snapshot: the rows that exist when pgrelay first starts on a database, handed out
 * before the stream, with no gap and no lost change between them.
 *
 * Consistency. A new slot is created with CREATE_REPLICATION_SLOT ... (SNAPSHOT 'export'): the
 * exported snapshot holds exactly the transactions committed before the slot's consistent point,
 * and the slot decodes exactly those committed after it. Every table is read in that snapshot (one
 * REPEATABLE READ transaction importing it), in chunks, and only then does the stream start, at the
 * consistent point: each change after the snapshot arrives after the snapshot's rows.
 *
 * Resuming. Progress (per table, the cursor after the last chunk every sink acknowledged) is stored;
 * the stream position is stored only when the snapshot completes, so the slot keeps the WAL since
 * its consistent point meanwhile. After a crash the exported snapshot is gone: the remaining chunks
 * are read in a fresh REPEATABLE READ snapshot, newer than the consistent point, and the stream then
 * starts at the consistent point. Every change after the consistent point is replayed after the
 * snapshot rows, so a row read newer than the consistent point is followed by the changes that made
 * it so (its update again, or its delete), and the last event per key still is the table's row. The
 * same argument covers a slot that already exists when the snapshot starts (no snapshot can be
 * exported then): the rows are read newer than the slot's confirmed position, where the stream starts.
 */
export class InitialSnapshot {
  private readonly connections = new Set<pg.Client>();
  /** The tables being read, whose cursors are stored before the snapshot is complete. */
  private ledgers: ChunkLedger[] = [];

  constructor(private readonly host: SnapshotHost) {}

  /** Shows the stored progress (as the last instance to read the snapshot left it) in /status. */
  async restore(): Promise<void> {
    this.host.progress.restore('snapshot', await this.host.store.initial());
  }

  /** Takes, resumes or skips the snapshot, as the config and the stored progress say. */
  async run(side: pg.Client, setup: SetupOptions): Promise<SnapshotOutcome> {
    switch (this.host.config.snapshot) {
      case 'never':
        return { action: 'stream' };
      case 'initial':
        // A source that streamed before carries on from its position: its snapshot is behind it.
        return setup.stored === undefined ? this.beforeStream(side, setup) : { action: 'stream' };
      case 'initial_only':
        return this.only(side);
    }
  }

  /** Ends the connections of a snapshot being read (the session ends). */
  async close(): Promise<void> {
    const connections = [...this.connections];
    this.connections.clear();
    await Promise.all(connections.map((c) => c.end().catch(() => undefined)));
  }

  private async beforeStream(side: pg.Client, setup: SetupOptions): Promise<SnapshotOutcome> {
    const { log, store } = this.host;
    const slot = await findSlot(side, setup);
    let runs = await store.initial();
    if (runs.length > 0) {
      // Resumable only while the slot still decodes from before the rows already read.
      const resumable =
        runs[0]!.mode === 'initial' && slot !== undefined && slot.confirmed <= lsnToBigInt(runs[0]!.lsn);
      if (!resumable) {
        log.warn(
          { slot: setup.slot, recorded: { mode: runs[0]!.mode, lsn: runs[0]!.lsn } },
          `the snapshot recorded earlier (${runs[0]!.mode} at ${runs[0]!.lsn}) cannot be continued from slot "${setup.slot}" (gone, recreated, or never streamed from): taking a new one`,
        );
        runs = [];
      }
    }
    let exported: { client: pg.Client; snapshotName: string } | undefined;
    let streamFrom: Lsn;
    if (runs.length === 0) {
      const tables = await this.tables(side, true);
      if (slot === undefined) {
        const client = await this.open(true);
        const created = await createSlotWithSnapshot(client, setup, log);
        exported = { client, snapshotName: created.snapshotName };
        streamFrom = created.consistentPoint;
      } else {
        streamFrom = slot.confirmed;
      }
      await store.beginInitial('initial', formatLsn(streamFrom), tables);
      runs = await store.initial();
    } else {
      streamFrom = slot!.confirmed;
    }
    if (!(await this.read(runs, exported))) return { action: 'interrupted' };
    if (!(await this.complete({ lsn: streamFrom }))) return { action: 'interrupted' };
    log.info(
      { lsn: formatLsn(streamFrom) },
      `snapshot complete: streaming from slot "${setup.slot}" at ${formatLsn(streamFrom)}`,
    );
    return { action: 'stream', from: streamFrom };
  }

  /**
   * snapshot = "initial_only": a consistent copy of the tables and no stream, so no slot is created
   * (one nobody reads would pin WAL forever). Rows carry the server's WAL position when the snapshot
   * began. A resumed copy continues in a newer snapshot: rows already sent stay as they were read.
   */
  private async only(side: pg.Client): Promise<SnapshotOutcome> {
    const { log, store } = this.host;
    let runs = await store.initial();
    if (runs.length > 0 && runs.every((r) => r.state === 'done')) {
      log.info('snapshot = "initial_only" and the snapshot is complete: not streaming');
      return { action: 'stop' };
    }
    if (runs.length === 0) {
      const tables = await this.tables(side, false);
      const lsn = (await side.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!
        .lsn;
      await store.beginInitial('initial_only', formatLsn(lsnToBigInt(lsn)), tables);
      runs = await store.initial();
    }
    if (!(await this.read(runs, undefined))) return { action: 'interrupted' };
    if (!(await this.complete(undefined))) return { action: 'interrupted' };
    log.info('snapshot complete; snapshot = "initial_only": not streaming');
    return { action: 'stop' };
  }

  /** The tables to read, checked before anything is created: snapshot_tables, tables, or the publication's. */
  private async tables(side: pg.Client, requirePublished: boolean): Promise<string[]> {
    const { config } = this.host;
    let names = config.snapshot_tables ?? (config.tables.includes('*') ? [] : config.tables);
    if (names.length === 0) {
      const published = await side.query<{ name: string }>(
        `SELECT DISTINCT schemaname || '.' || tablename AS name FROM pg_publication_tables WHERE pubname = ANY($1) ORDER BY 1`,
        [this.host.publications],
      );
      names = published.rows.map((r) => r.name);
    }
    const tables = [...new Set(names.map(qualify))];
    await readOnly(side, async () => {
      for (const table of tables) await estimateRows(side, await this.plan(side, table, requirePublished));
    });
    if (tables.length === 0)
      this.host.log.warn('snapshot: no tables to read (list tables or snapshot_tables)');
    for (const table of Object.keys(config.snapshot_where).map(qualify)) {
      if (!tables.includes(table))
        this.host.log.warn({ table }, `snapshot_where names ${table}, which the snapshot does not read`);
    }
    return tables;
  }

  private plan(client: pg.Client, table: string, requirePublished: boolean) {
    const { config, types, publications } = this.host;
    const where = Object.entries(config.snapshot_where).find(([name]) => qualify(name) === table)?.[1];
    return planRead(client, table, types, { publications, requirePublished, where });
  }

  /**
   * Reads the tables not done yet, in one REPEATABLE READ transaction (the exported snapshot, if
   * any), and waits until every sink holds the rows. False when the source stopped first.
   */
  private async read(
    runs: readonly TableRun[],
    exported: { client: pg.Client; snapshotName: string } | undefined,
  ) {
    this.ledgers = [];
    // Every table is shown from the start, pending until read: listed only once reached, the tables
    // read so far could all be done while later ones had not begun, and /status look finished.
    this.host.progress.restore('snapshot', runs);
    const reader = await this.open(false);
    try {
      await reader.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      if (exported !== undefined) {
        await reader.query(`SET TRANSACTION SNAPSHOT ${literal(exported.snapshotName)}`);
        // Imported: the transaction holds the snapshot now, the exporting connection can go.
        await this.release(exported.client);
      }
      this.host.reading();
      for (const run of runs) {
        if (run.state !== 'done' && !(await this.readTable(reader, run))) return false;
      }
      await reader.query('COMMIT');
    } finally {
      if (exported !== undefined) await this.release(exported.client);
      await this.release(reader);
    }
    await this.host.drained();
    // Every cursor stored before the completion is: none lands on a completed snapshot.
    for (const ledger of this.ledgers) await ledger.settled();
    return !this.host.stopping();
  }

  private async readTable(reader: pg.Client, run: TableRun): Promise<boolean> {
    const { host } = this;
    const plan = await this.plan(reader, run.table, run.mode === 'initial');
    const progress = host.progress.add(TableProgress.of('snapshot', run));
    progress.start(await estimateRows(reader, plan));
    host.log.info(
      { table: run.table, lsn: run.lsn, resumedAfter: run.cursor, rowsDone: run.rowsDone },
      run.cursor === null
        ? `snapshot of ${run.table} at ${run.lsn}: reading`
        : `snapshot of ${run.table} at ${run.lsn}: continuing after ${JSON.stringify(run.cursor)} (${run.rowsDone} rows done)`,
    );
    const ledger = new ChunkLedger(host.store, INITIAL_RUN, run.table, progress, (rows) =>
      host.log.info({ table: run.table, rows }, `snapshot of ${run.table} done: ${rows} rows`),
    );
    this.ledgers.push(ledger);
    // When the snapshot began (stored), so rows read again after a restart carry the same time.
    const commitTime = new Date(run.startedAt).toISOString().replace('Z', '000Z');
    const origin = { lsnText: run.lsn, xid: null, commitTime };
    const converter = new ChunkConverter(plan, host.events, `snapshot:${run.lsn}:${run.table}:`);
    let rows = run.rowsDone;
    // The router sets no batch limit (Infinity) for a source without sinks: then chunks go whole.
    const portion = Math.min(host.config.snapshot_chunk, host.batchLimits().events);
    const portions = readChunks(reader, plan, converter, run.cursor, host.config.snapshot_chunk, portion);
    let chunk = new ChunkDelivery();
    // Room in the sinks after the portion handed out last. A portion is converted before waiting
    // for it, while the sinks send the one before: the sink encodes a delivery only once the one
    // before is acknowledged, and converting then too kept the thread idle for the broker's answer
    // a quarter of the time. 300,000 rows: faster in 5 of 6 pairs (median 81,050 against 75,800
    // rows/s), at the same peak RSS (docs/performance.md).
    let room: Promise<void> | undefined;
    for await (const { rows: raw, chunkEnd } of portions) {
      if (host.stopping()) return false;
      if (raw.length > 0) {
        const { events, bytes } = converter.convert(raw, origin);
        // Whatever still points at these rows (a promise, a portal's result) may have been copied
        // into V8's old generation by now, and would keep them alive there until a full collection.
        raw.length = 0;
        await room;
        if (host.stopping()) return false;
        room = host.emitRows(events, bytes, chunk.portion());
        // A failure surfaces at the next await of it; this keeps it from going unhandled meanwhile.
        room.catch(() => undefined);
      }
      if (chunkEnd === undefined) continue;
      rows += chunkEnd.rows;
      chunk.end(ledger.track({ cursor: chunkEnd.cursor, rows, last: chunkEnd.last }));
      chunk = new ChunkDelivery();
    }
    await room;
    return true;
  }

  /**
   * Stores the snapshot's completion, and `position` where the stream starts (none: initial_only);
   * while the state file cannot be written (a full disk: the store reports it) tries again every
   * second rather than failing the session, which would read the tables' last chunks again. False
   * when the source stopped first; a file that is gone, or a lost lease, throws.
   */
  private async complete(position: { lsn: Lsn } | undefined): Promise<boolean> {
    for (;;) {
      try {
        await this.host.store.completeInitial(position);
        return true;
      } catch (error) {
        if (!(error instanceof StateError) || !error.retriable) throw error;
      }
      if (this.host.stopping()) return false;
      await sleep(COMPLETION_RETRY_MS);
    }
  }

  private async open(replication: boolean): Promise<pg.Client> {
    const client = await this.host.connect(replication);
    this.connections.add(client);
    return client;
  }

  private async release(client: pg.Client): Promise<void> {
    if (this.connections.delete(client)) await client.end().catch(() => undefined);
  }
}

/**
 * A chunk's acknowledgement: its rows are handed out a portion at a time, and the chunk is stored
 * once it ended and every sink holds every portion.
 */
class ChunkDelivery {
  private pending = 0;
  private acknowledge: (() => void) | undefined;

  /** The acknowledgement of one more portion handed out. */
  portion(): () => void {
    this.pending++;
    return () => {
      if (--this.pending === 0) this.acknowledge?.();
    };
  }

  /** No portion follows; `acknowledge` runs once every one handed out is delivered. */
  end(acknowledge: () => void): void {
    this.acknowledge = acknowledge;
    if (this.pending === 0) acknowledge();
  }
}
