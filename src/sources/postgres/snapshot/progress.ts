import type { Logger } from 'pino';
import type { Metrics } from '../../../core/metrics.js';
import type { RunState, TableRun } from './store.js';

/** How often a running snapshot or backfill logs its progress. */
const LOG_INTERVAL_MS = 10_000;

export type ProgressKind = 'snapshot' | 'backfill';

/** What /status shows per table. */
export interface ProgressReport {
  state: RunState;
  rows_done: number;
  rows_estimated: number | null;
  rows_per_second: number;
  eta_seconds: number | null;
  id?: string;
  where?: string;
}

/** One table being read by a snapshot or backfill: rows acknowledged, estimate, rate. */
export class TableProgress {
  state: RunState = 'pending';
  rowsEstimated: number | null = null;
  /** When this process started reading the table, and the rows done before (a resumed run). */
  private started: { at: number; rows: number } | undefined;

  constructor(
    readonly kind: ProgressKind,
    readonly table: string,
    public rowsDone: number,
    readonly labels: { id?: string; where?: string } = {},
  ) {}

  /** A run as the state database has it; one an earlier process was reading is pending until read again. */
  static of(kind: ProgressKind, run: TableRun): TableProgress {
    const labels =
      kind === 'backfill' ? { id: run.run, ...(run.where === null ? {} : { where: run.where }) } : {};
    const progress = new TableProgress(kind, run.table, run.rowsDone, labels);
    progress.state = run.state === 'running' ? 'pending' : run.state;
    return progress;
  }

  start(estimate: number | null, at = Date.now()): void {
    this.state = 'running';
    this.rowsEstimated = estimate;
    this.started = { at, rows: this.rowsDone };
  }

  finish(state: 'done' | 'failed'): void {
    this.state = state;
  }

  /** Rows per second acknowledged since this process started on the table. */
  rate(at = Date.now()): number {
    if (this.started === undefined) return 0;
    const seconds = (at - this.started.at) / 1000;
    return seconds <= 0 ? 0 : (this.rowsDone - this.started.rows) / seconds;
  }

  eta(at = Date.now()): number | null {
    if (this.state === 'done') return 0;
    const rate = this.rate(at);
    if (this.rowsEstimated === null || rate <= 0) return null;
    return Math.max(0, Math.ceil((this.rowsEstimated - this.rowsDone) / rate));
  }

  report(at = Date.now()): ProgressReport {
    return {
      state: this.state,
      rows_done: this.rowsDone,
      rows_estimated: this.rowsEstimated,
      rows_per_second: Math.round(this.rate(at)),
      eta_seconds: this.eta(at),
      ...this.labels,
    };
  }

  describe(at = Date.now()): string {
    const estimate = this.rowsEstimated;
    const share = estimate ? ` (${Math.min(100, Math.floor((100 * this.rowsDone) / estimate))}%)` : '';
    const eta = this.eta(at);
    return (
      `${this.kind} of ${this.table}: ${grouped(this.rowsDone)} of ~${estimate === null ? '?' : grouped(estimate)} rows${share}, ` +
      `${grouped(Math.round(this.rate(at)))} rows/s${eta === null ? '' : `, about ${eta} s left`}`
    );
  }
}

/**
 * The snapshot and backfill progress of one source: /status details, a log line every 10 s while
 * something runs, and the pgrelay_snapshot_* gauges.
 */
export class ProgressBoard {
  private readonly tables = new Map<string, TableProgress>();
  private timer: NodeJS.Timeout | undefined;
  private readonly boards: Set<ProgressBoard>;

  constructor(
    readonly source: string,
    private readonly log: Logger,
    metrics: Metrics,
  ) {
    this.boards = boardsOf(metrics);
    this.boards.add(this);
  }

  /** Shows `progress` (replacing an earlier run of the same kind and table) and logs it while it runs. */
  add(progress: TableProgress): TableProgress {
    this.tables.set(`${progress.kind}\u0000${progress.table}`, progress);
    this.timer ??= setInterval(() => this.logRunning(), LOG_INTERVAL_MS).unref();
    return progress;
  }

  /** Shows stored runs, as they were when pgrelay last ran. */
  restore(kind: ProgressKind, runs: readonly TableRun[]): void {
    for (const run of runs) this.add(TableProgress.of(kind, run));
  }

  /** Per table, the progress of `kind`; undefined when there is none. */
  report(kind: ProgressKind): Record<string, ProgressReport> | undefined {
    const entries = [...this.tables.values()].filter((p) => p.kind === kind);
    if (entries.length === 0) return undefined;
    const at = Date.now();
    return Object.fromEntries(entries.map((p) => [p.table, p.report(at)]));
  }

  all(): readonly TableProgress[] {
    return [...this.tables.values()];
  }

  /** The source stopped: no more log lines, and its gauges go (a reload may replace or remove it). */
  close(): void {
    this.stopLogging();
    this.boards.delete(this);
  }

  private stopLogging(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private logRunning(): void {
    const running = this.all().filter((p) => p.state === 'running');
    if (running.length === 0) return this.stopLogging();
    const at = Date.now();
    for (const progress of running) this.log.info({ progress: progress.report(at) }, progress.describe(at));
  }
}

/** The boards of every source sharing one Metrics registry, which the gauges (registered once) read. */
const registries = new WeakMap<Metrics, Set<ProgressBoard>>();

function boardsOf(metrics: Metrics): Set<ProgressBoard> {
  const known = registries.get(metrics);
  if (known !== undefined) return known;
  const boards = new Set<ProgressBoard>();
  registries.set(metrics, boards);
  const gauge = (name: string, help: string, read: (p: TableProgress, at: number) => number | null) =>
    metrics.gauge(name, help, ['component', 'role', 'type', 'table', 'kind'], (set) => {
      const at = Date.now();
      for (const board of boards) {
        for (const progress of board.all()) {
          const value = read(progress, at);
          if (value !== null)
            set(
              {
                component: board.source,
                role: 'source',
                type: 'postgres',
                table: progress.table,
                kind: progress.kind,
              },
              value,
            );
        }
      }
    });
  gauge(
    'pgrelay_snapshot_rows_done',
    'Rows of a snapshot or backfill every sink acknowledged.',
    (p) => p.rowsDone,
  );
  gauge(
    'pgrelay_snapshot_rows_estimated',
    "Rows a snapshot or backfill expects to read (the planner's estimate).",
    (p) => p.rowsEstimated,
  );
  gauge('pgrelay_snapshot_running', '1 while a snapshot or backfill reads the table, else 0.', (p) =>
    p.state === 'running' ? 1 : 0,
  );
  gauge('pgrelay_snapshot_rows_per_second', 'Rows per second a snapshot or backfill delivers.', (p, at) =>
    p.rate(at),
  );
  return boards;
}

/**
 * A count with its thousands grouped (1,234,567), as toLocaleString('en-US') writes it without
 * loading ICU's number formatting data, 4.8 MB of RSS (measured).
 */
function grouped(count: number): string {
  return String(count).replace(/\B(?=(\d{3})+$)/g, ',');
}
