import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { errorMessage } from '../../../core/errors.js';
import type { ChangeEvent } from '../../../core/event.js';
import { BackfillError, type BackfillRequest } from '../../../core/source.js';
import { ChunkWindow, EVERY_KEY, XidSnapshot } from './window.js';
import { SqlConditionError, checkCondition } from '../snapshot/condition.js';
import { qualify } from '../config.js';
import { Supervisor } from '../../../core/supervisor.js';
import { classifyServerError } from '../errors.js';
import { TableProgress } from '../snapshot/progress.js';
import type { ChunkCursor, TableRun } from '../snapshot/store.js';
import { UnreadableTableError } from '../schema/catalog.js';
import {
  ChunkConverter,
  type ReadPlan,
  estimateRows,
  keyAfter,
  keysetChunk,
  planRead,
  queryRows,
  readOnly,
} from '../snapshot/chunks.js';
import { ChunkLedger } from '../snapshot/ledger.js';
import type { RowsHost } from '../snapshot/initial.js';

/** Prefix of the logical messages marking a backfill chunk's watermarks; never relayed. */
export const BACKFILL_PREFIX = 'pgrelay.backfill';

export interface BackfillHost extends RowsHost {
  /** True while the replication stream runs. */
  streaming(): boolean;
  /** Resolves once the stream runs, or `signal` aborts. */
  whenStreaming(signal: AbortSignal): Promise<void>;
}

/** A chunk's rows to hand out where its high watermark sits in the stream. */
export interface ChunkRelease {
  events: ChangeEvent[];
  bytes: number;
  /** Every sink holds the rows. */
  onDelivered: () => void;
  /** The rows are handed to the router: the next chunk may start. */
  handedOut: () => void;
}

/** The stream restarted while a chunk was between its watermarks: it is read again. */
class ChunkAbandoned extends Error {}

/**
 * The backfills of one source: reading a table again while the stream runs (README "Backfill"),
 * chunk by chunk between watermarks, so that no row of a key lands after a newer change of it.
 * The stream side calls observe() for each change and marker() for each watermark message.
 */
export class Backfills {
  private readonly byTable = new Map<string, BackfillRun>();
  private readonly byId = new Map<string, BackfillRun>();
  /** Tables whose backfill request is being checked. */
  private readonly starting = new Set<string>();

  constructor(private readonly host: BackfillHost) {}

  /** Shows the stored backfills (but those running here) in /status, as the last instance left them. */
  async restore(): Promise<void> {
    const stored = await this.host.store.backfills();
    this.host.progress.restore(
      'backfill',
      stored.filter((run) => !this.byTable.has(run.table)),
    );
  }

  /** Whether any backfill watches the stream. */
  get active(): boolean {
    return this.byTable.size > 0;
  }

  async start(request: BackfillRequest): Promise<string> {
    const { host } = this;
    const table = qualify(request.table);
    const where = request.where === undefined ? undefined : backfillCondition(request.where);
    if (!host.streaming())
      throw new BackfillError(
        'PGRELAY_BACKFILL_NOT_STREAMING',
        `source ${host.name} is not streaming: a backfill runs beside the stream (see /status)`,
      );
    if (this.byTable.has(table) || this.starting.has(table))
      throw new BackfillError(
        'PGRELAY_BACKFILL_RUNNING',
        `source ${host.name}: a backfill of ${table} is running (id ${this.byTable.get(table)?.id ?? 'starting'})`,
      );
    this.starting.add(table);
    let client: pg.Client | undefined;
    try {
      client = await host.connect();
      await checkTable(client, host, table, where);
      const id = randomUUID();
      await host.store.beginBackfill(id, table, where ?? null);
      this.launch((await host.store.backfills()).find((r) => r.run === id)!);
      host.log.info(
        { backfill: id, table, where },
        `backfill ${id} of ${table}${where ? ` where ${where}` : ''}: started`,
      );
      return id;
    } finally {
      this.starting.delete(table);
      await client?.end().catch(() => undefined);
    }
  }

  /**
   * The stream runs: continues the backfills a restart interrupted, or the instance that held the
   * slot before (their requests are stored, with their conditions).
   */
  async resume(): Promise<void> {
    for (const run of await this.host.store.backfills()) {
      if ((run.state === 'pending' || run.state === 'running') && !this.byId.has(run.run)) {
        this.host.log.info(
          { backfill: run.run, table: run.table },
          `backfill ${run.run} of ${run.table}: continuing after ${JSON.stringify(run.cursor)}`,
        );
        this.launch(run);
      }
    }
  }

  /** A change in the stream (xid: its transaction). */
  observe(event: ChangeEvent, xid: number): void {
    const run = this.byTable.get(`${event.schema}.${event.table}`);
    if (run === undefined) return;
    if (event.action === 'truncate') {
      run.window.record(xid, EVERY_KEY);
      return;
    }
    if (event.key === null) return;
    run.window.record(xid, JSON.stringify(event.key));
    if (event.old !== null) {
      // The key may have changed: the old one changed too.
      const old = Object.fromEntries(Object.keys(event.key).map((name) => [name, event.old![name] ?? null]));
      run.window.record(xid, JSON.stringify(old));
    }
  }

  /** A watermark message in the stream; at a high watermark, the chunk's rows to hand out. */
  marker(content: string, lsn: string): ChunkRelease | undefined {
    const [id, sequence, phase] = content.split(':');
    return this.byId.get(id ?? '')?.marker(`${id}:${sequence}`, phase, lsn);
  }

  /** The stream stopped: chunks between their watermarks are read again once it runs. */
  interrupt(): void {
    for (const run of this.byId.values()) run.interrupt();
  }

  async stop(): Promise<void> {
    await Promise.all([...this.byId.values()].map((run) => run.stop()));
  }

  private launch(stored: TableRun): void {
    const run = new BackfillRun(this.host, stored);
    this.byTable.set(stored.table, run);
    this.byId.set(stored.run, run);
    void run.drive().finally(() => {
      this.byTable.delete(stored.table);
      this.byId.delete(stored.run);
    });
  }
}

/** A backfill's `where`, checked before anything connects: one condition, or PGRELAY_BACKFILL_WHERE. */
function backfillCondition(where: string): string | undefined {
  try {
    return where.trim() === '' ? undefined : checkCondition(where);
  } catch (error) {
    if (error instanceof SqlConditionError) throw new BackfillError('PGRELAY_BACKFILL_WHERE', error.message);
    throw error;
  }
}

/** Refuses, as a BackfillError, a table a backfill cannot read or a condition PostgreSQL refuses. */
async function checkTable(client: pg.Client, host: RowsHost, table: string, where?: string): Promise<void> {
  try {
    await readOnly(client, async () => {
      const plan = await planBackfill(client, host, table, where);
      if (plan.table.keyColumns.length === 0)
        throw new UnreadableTableError(
          `table ${table} has no primary key (or replica identity index): a backfill matches rows to live changes by key`,
        );
      await estimateRows(client, plan);
    });
  } catch (error) {
    if (error instanceof UnreadableTableError)
      throw new BackfillError('PGRELAY_BACKFILL_TABLE', error.message);
    if (error instanceof SqlConditionError) throw new BackfillError('PGRELAY_BACKFILL_WHERE', error.message);
    throw error;
  }
}

function planBackfill(client: pg.Client, host: RowsHost, table: string, where: string | undefined) {
  return planRead(client, table, host.types, {
    publications: host.publications,
    requirePublished: true,
    where,
  });
}

/** A chunk between its watermarks. */
interface PendingChunk {
  id: string;
  /** The stream passed the low watermark. */
  opened: boolean;
  read?: { events: ChangeEvent[]; bytes: number; snapshot: XidSnapshot; cursor: ChunkCursor; last: boolean };
  handedOut: PromiseWithResolvers<void>;
}

/**
 * One table's backfill. Per chunk: a low watermark through the database, the chunk read (keyset,
 * REPEATABLE READ, noting the transaction snapshot), a high watermark; the stream side drops the
 * rows whose keys changed meanwhile (ChunkWindow) and hands out the rest at the high watermark.
 * The cursor after each acknowledged chunk is stored, so a restart continues there.
 */
class BackfillRun {
  readonly id: string;
  readonly window = new ChunkWindow();
  private readonly progress: TableProgress;
  private readonly ledger: ChunkLedger;
  private cursor: ChunkCursor;
  private rows: number;
  /** Rows read whose key changed while their chunk was read: the live change stands for them. */
  private superseded = 0;
  private sequence = 0;
  /** This process began reading (progress counts its rate from here). */
  private started = false;
  private pending: PendingChunk | undefined;
  /** The connection chunks are read on, and how to read the table. */
  private reader: { client: pg.Client; plan: ReadPlan; converter: ChunkConverter } | undefined;
  private readonly abort = new AbortController();

  constructor(
    private readonly host: BackfillHost,
    private readonly stored: TableRun,
  ) {
    this.id = stored.run;
    this.cursor = stored.cursor;
    this.rows = stored.rowsDone;
    this.progress = host.progress.add(TableProgress.of('backfill', stored));
    this.ledger = new ChunkLedger(host.store, stored.run, stored.table, this.progress, (rows) =>
      host.log.info(
        { backfill: this.id, table: stored.table, rows, superseded: this.superseded },
        `backfill ${this.id} of ${stored.table} done: ${rows} rows (and ${this.superseded} left to newer live changes)`,
      ),
    );
  }

  async drive(): Promise<void> {
    const { host, stored } = this;
    const signal = this.abort.signal;
    const supervisor = new Supervisor(
      {
        label: `backfill ${this.id} of ${stored.table}`,
        retrying: (error, delay) =>
          host.log.warn(
            { err: error, backfill: this.id },
            `backfill of ${stored.table}: ${errorMessage(error)}; retrying in ${delay} ms`,
          ),
        fail: (error) => this.fail(error),
      },
      {
        initialMs: host.config.retry_initial,
        maxMs: host.config.retry_max,
        signal,
        classify: (error) => classifyServerError(host.name, error),
      },
    );
    await supervisor.run(
      async (ready) => {
        for (;;) {
          await host.whenStreaming(signal);
          if (signal.aborted) return 'ended';
          try {
            if (await this.chunk(this.reader ?? (await this.open()))) return 'done';
            ready();
          } catch (error) {
            // The stream restarted between the chunk's watermarks: read it again once it runs.
            if (!(error instanceof ChunkAbandoned)) throw error;
          }
        }
      },
      { cleanup: () => this.closeReader() },
    );
    await this.closeReader();
  }

  private async open(): Promise<NonNullable<BackfillRun['reader']>> {
    const { host, stored } = this;
    const client = await host.connect();
    try {
      const { plan, estimate } = await readOnly(client, async () => {
        const plan = await planBackfill(client, host, stored.table, stored.where ?? undefined);
        return { plan, estimate: this.started ? null : await estimateRows(client, plan) };
      });
      if (!this.started) this.progress.start(estimate);
      this.started = true;
      const converter = new ChunkConverter(plan, host.events, `backfill:${this.id}:${stored.table}:`);
      this.reader = { client, plan, converter };
      return this.reader;
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
  }

  /** One chunk between watermarks; true when it was the last. */
  private async chunk({ client, plan, converter }: NonNullable<BackfillRun['reader']>): Promise<boolean> {
    const id = `${this.id}:${++this.sequence}`;
    const pending: PendingChunk = { id, opened: false, handedOut: Promise.withResolvers<void>() };
    // Abandoned (rejected) while this is still between its watermarks: awaited below.
    pending.handedOut.promise.catch(() => undefined);
    this.pending = pending;
    await this.watermark(client, `${id}:low`);
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    // The transaction's first statement takes its snapshot: statement_timestamp() is when.
    const { snapshot, taken } = (
      await client.query<{ snapshot: string; taken: string }>(
        `SELECT pg_current_snapshot()::text AS snapshot,
                to_char(statement_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS taken`,
      )
    ).rows[0]!;
    const rows = await queryRows(
      client,
      keysetChunk(plan, keyAfter(this.cursor), this.host.config.snapshot_chunk),
    );
    await client.query('COMMIT');
    // Rows take the LSN where the stream carries them, at their chunk's high watermark.
    const origin = { lsnText: '', xid: null, commitTime: taken };
    pending.read = {
      ...converter.convert(rows, origin),
      snapshot: XidSnapshot.parse(snapshot),
      cursor: rows.length > 0 ? converter.cursorOf(rows[rows.length - 1]!) : this.cursor,
      last: rows.length < this.host.config.snapshot_chunk,
    };
    await this.watermark(client, `${id}:high`);
    await pending.handedOut.promise;
    this.cursor = pending.read.cursor;
    return pending.read.last;
  }

  private async watermark(client: pg.Client, content: string): Promise<void> {
    await client.query('SELECT pg_logical_emit_message(true, $1, $2)', [BACKFILL_PREFIX, content]);
  }

  /** The stream side: a watermark of this backfill. */
  marker(chunk: string, phase: string | undefined, lsn: string): ChunkRelease | undefined {
    const pending = this.pending;
    if (pending === undefined || pending.id !== chunk) return undefined; // an abandoned chunk's
    if (phase === 'low') {
      this.window.openWindow();
      pending.opened = true;
      return undefined;
    }
    if (phase !== 'high' || pending.read === undefined) return undefined;
    this.pending = undefined;
    if (!pending.opened) {
      pending.handedOut.reject(new ChunkAbandoned());
      return undefined;
    }
    const drop = this.window.close(pending.read.snapshot);
    const kept = drop.has(EVERY_KEY)
      ? []
      : pending.read.events.filter((event) => !drop.has(JSON.stringify(event.key)));
    for (const event of kept) event.lsn = lsn;
    const bytes = Math.ceil((pending.read.bytes * kept.length) / Math.max(1, pending.read.events.length));
    this.superseded += pending.read.events.length - kept.length;
    this.rows += kept.length;
    const acknowledge = this.ledger.track({
      cursor: pending.read.cursor,
      rows: this.rows,
      last: pending.read.last,
    });
    if (kept.length === 0) {
      acknowledge();
      pending.handedOut.resolve();
      return undefined;
    }
    return {
      events: kept,
      bytes,
      onDelivered: acknowledge,
      handedOut: () => pending.handedOut.resolve(),
    };
  }

  interrupt(): void {
    this.window.abandon();
    const pending = this.pending;
    this.pending = undefined;
    pending?.handedOut.reject(new ChunkAbandoned());
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.interrupt();
    await this.closeReader();
  }

  private fail(error: unknown): void {
    const { host, stored } = this;
    host.store
      .finishTable(stored.run, stored.table, this.progress.rowsDone, 'failed')
      .catch((stateError) =>
        host.log.warn(
          { err: stateError, backfill: this.id },
          `backfill ${this.id}: its failure is not stored (${errorMessage(stateError)}): a restart continues it`,
        ),
      );
    this.progress.finish('failed');
    host.log.error(
      { err: error, backfill: this.id },
      `backfill ${this.id} of ${stored.table} failed: ${errorMessage(error)}`,
    );
  }

  private async closeReader(): Promise<void> {
    const client = this.reader?.client;
    this.reader = undefined;
    await client?.end().catch(() => undefined);
  }
}
