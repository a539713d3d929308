import type { Logger } from 'pino';
import { errorCode, errorMessage } from './errors.js';
import { Supervisor, type SupervisorOptions } from './supervisor.js';

/**
 * `standby`: a source that another pgrelay process streams (its replication slot is taken): it waits
 * to take over, and counts as healthy.
 */
export type ComponentState = 'starting' | 'running' | 'standby' | 'retrying' | 'failed' | 'stopped';
export type ComponentRole = 'source' | 'sink';

export interface ComponentError {
  message: string;
  code: string | null;
  at: string;
  /** The config key an operator fixes for this error (`sources.db1.dsn`), when one is known. */
  config_key: string | null;
}

/** The config key to fix for an error, and what about it. */
export interface KeyToFix {
  key: string;
  why: string;
}

/** Finds the config key behind a component's error; the runtime knows the config, core does not. */
export type KeyToFixOf = (error: unknown) => KeyToFix | undefined;

/** How far a component is behind its input; which fields apply depends on the kind. */
export interface Lag {
  /** PostgreSQL: server WAL end minus the delivered position. */
  bytes?: number;
  /** Age of the oldest change not yet delivered. */
  seconds?: number;
  /** Kafka: messages between the committed offsets and the partitions' ends. */
  messages?: number;
  /**
   * PostgreSQL: WAL the replication slot makes the server keep (server WAL end minus the slot's
   * restart_lsn): what a slow or stopped pgrelay costs the database's disk. More than `bytes` when
   * wal_retain holds some back or a long transaction is open.
   */
  retained_wal_bytes?: number;
}

/**
 * Something wrong that leaves a component running but not healthy (HTTP 503): data it should carry
 * does not flow (a table not published), or it hurts others (a published table whose UPDATEs fail).
 */
export interface Problem {
  /** Named like errors: PGRELAY_... */
  code: string;
  message: string;
  /** What it concerns (tables), counted by the metrics. */
  items: string[];
}

/** A component's state as /status reports it. */
export class Health {
  state: ComponentState = 'starting';
  since = new Date().toISOString();
  lastError: ComponentError | null = null;
  position: string | null = null;
  lag: Lag | null = null;
  /** Kind-specific details (snapshot progress, partitions...). */
  details: Record<string, unknown> = {};
  /** Stopped because its work is done (a snapshot-only source), not because of a failure or shutdown. */
  completed = false;
  /** Problems of a running component; any makes it unhealthy. */
  problems: Problem[] = [];
  /** The state the component's own work is in; `state` is this, unless a hold makes it 'retrying'. */
  private work: ComponentState = 'starting';
  /** Why the component's positions cannot be stored while its work goes on (see hold). */
  private held: unknown;

  set(state: ComponentState, error?: unknown, fix?: KeyToFix): void {
    this.work = state;
    this.show(error, fix);
  }

  /**
   * The component works, but its positions cannot be stored for `error` (the state file cannot be
   * written): until release(), a running component shows as 'retrying' with that error.
   */
  hold(error: unknown): void {
    this.held = error;
    this.show(error);
  }

  release(): void {
    if (this.held === undefined) return;
    this.held = undefined;
    this.show();
  }

  private show(error?: unknown, fix?: KeyToFix): void {
    const state = this.work === 'running' && this.held !== undefined ? 'retrying' : this.work;
    if (state !== this.state) {
      this.state = state;
      this.since = new Date().toISOString();
    }
    if (error !== undefined) {
      this.lastError = {
        message: errorMessage(error) + fixText(fix),
        code: errorCode(error) ?? null,
        at: new Date().toISOString(),
        config_key: fix?.key ?? null,
      };
    }
  }

  /** The component stops for good, its job done: it counts as healthy from then on. */
  complete(): void {
    this.completed = true;
    this.set('stopped');
  }

  get healthy(): boolean {
    if (this.problems.length > 0) return false;
    return (
      this.state === 'running' || this.state === 'standby' || (this.state === 'stopped' && this.completed)
    );
  }

  /** How many items the problem named `code` concerns (0 without it). */
  problemItems(code: string): number {
    return this.problems.find((p) => p.code === code)?.items.length ?? 0;
  }
}

/** Counters /stats and /metrics report. Only ever increase. */
export class Stats {
  eventsIn = 0;
  eventsOut = 0;
  batches = 0;
  errors = 0;
  bytes = 0;
  /** Events deliberately not delivered (unmapped tables, dead-lettered, undecodable), by reason. */
  dropped: Record<string, number> = {};
  /** The sum of `dropped`. */
  droppedTotal = 0;

  drop(reason: string, count = 1): void {
    this.dropped[reason] = (this.dropped[reason] ?? 0) + count;
    this.droppedTotal += count;
  }

  /** Adds what the component this one replaces counted, so the counters never go down. */
  carryOver(previous: Stats): void {
    this.eventsIn += previous.eventsIn;
    this.eventsOut += previous.eventsOut;
    this.batches += previous.batches;
    this.errors += previous.errors;
    this.bytes += previous.bytes;
    for (const [reason, count] of Object.entries(previous.dropped)) this.drop(reason, count);
  }
}

/** "; fix sources.db1.dsn (its user and password)", appended to a failure's message. */
function fixText(fix: KeyToFix | undefined): string {
  return fix === undefined ? '' : `; fix ${fix.key} (${fix.why})`;
}

/** What sources and sinks have in common: a name, a kind, health, counters and a debug switch. */
export abstract class Component {
  readonly health = new Health();
  readonly stats = new Stats();
  private debugOn = false;

  protected constructor(
    readonly role: ComponentRole,
    readonly name: string,
    readonly type: string,
    readonly log: Logger,
    private baseLevel: string,
    private readonly keyToFix?: KeyToFixOf,
  ) {}

  /** Per-event debug logging, switched by /debug/on|off. */
  get debug(): boolean {
    return this.debugOn;
  }

  set debug(on: boolean) {
    this.debugOn = on;
    this.log.level = on ? 'debug' : this.baseLevel;
  }

  /** The log level while debug is off (`[log] level`, changed by a reload). */
  set logLevel(level: string) {
    this.baseLevel = level;
    if (!this.debugOn) this.log.level = level;
  }

  /** The lifecycle policy (retry, fail, stop) for this component's work, reporting to its health. */
  protected supervisor(options: SupervisorOptions): Supervisor {
    return new Supervisor(
      {
        label: `${this.role} ${this.name}`,
        retrying: (error, delayMs) => this.retrying(error, delayMs),
        fail: (error) => this.fail(error),
        recovered: () => {
          if (this.health.state === 'retrying') this.health.set('running');
        },
      },
      options,
    );
  }

  /** Stops for good: the message names the config key to fix, when the runtime knows one. */
  protected fail(error: unknown): void {
    this.stats.errors++;
    const fix = this.keyToFix?.(error);
    this.health.set('failed', error, fix);
    this.log.error(
      { err: error, config_key: fix?.key },
      `${this.role} ${this.name} failed: ${errorMessage(error)}${fixText(fix)}`,
    );
  }

  protected retrying(error: unknown, delayMs: number): void {
    this.stats.errors++;
    this.health.set('retrying', error);
    this.log.warn(
      { err: error, retryInMs: delayMs },
      `${this.role} ${this.name}: ${errorMessage(error)}; retrying`,
    );
  }
}
