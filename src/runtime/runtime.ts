import type { Logger } from 'pino';
import { createPassthrough } from '../handlers/passthrough/handler.js';
import type { Config, HandlerConfig, SinkConfig } from './config-schema.js';
import type { Component, ComponentError } from '../core/component.js';
import { HandlerChain } from '../core/handler-chain.js';
import { Metrics } from '../core/metrics.js';
import { Router } from '../core/router.js';
import type { Sink, SinkSettings } from '../core/sink.js';
import type { BackfillRequest, Source } from '../core/source.js';
import { createHandler, createSink, createSource } from './components.js';
import { RunLock } from '../state/lock.js';
import { type StateFailure, StateError, StateStore } from '../state/store.js';
import { VERSION } from '../core/version.js';

export interface ComponentReport {
  type: string;
  state: string;
  /** Stopped with its work done (snapshot = "initial_only"): healthy. */
  completed: boolean;
  since: string;
  last_error: { message: string; code: string | null; at: string } | null;
  position: string | null;
  lag: Component['health']['lag'];
  [detail: string]: unknown;
}

export interface StatusReport {
  status: 'ok' | 'degraded';
  version: string;
  uptime_seconds: number;
  /** The state file: `error` while it cannot store positions (a failed write, a deleted file). */
  state_file: { path: string; ok: boolean; error: ComponentError | null };
  sources: Record<string, ComponentReport>;
  sinks: Record<string, ComponentReport>;
}

/** How often the runtime checks that the state file is still the one open, also when nothing is written. */
const STATE_CHECK_MS = 5000;

export class UnknownComponentError extends Error {
  readonly code = 'PGRELAY_UNKNOWN_COMPONENT';
}

/** Everything one config file describes, built, wired and run: sources → router → sinks. */
export class Runtime {
  private readonly started = Date.now();
  private statsTimer: NodeJS.Timeout | undefined;
  private stateTimer: NodeJS.Timeout | undefined;
  private stateError: ComponentError | null = null;

  private constructor(
    readonly config: Config,
    readonly log: Logger,
    readonly state: StateStore,
    private readonly lock: RunLock,
    readonly metrics: Metrics,
    readonly sources: readonly Source[],
    readonly sinks: readonly Sink[],
  ) {
    state.watch((failure) => this.stateFailed(failure));
    metrics.gauge(
      'pgrelay_state_failing',
      '1 while the state file cannot store positions (a write failed, or the file was deleted or replaced), else 0.',
      [],
      (set) => set({}, state.failure === undefined ? 0 : 1),
    );
    metrics.counter(
      'pgrelay_state_write_errors_total',
      'Writes to the state file that failed, each attempt counted.',
      () => state.failedWrites,
    );
  }

  static async create(config: Config, log: Logger): Promise<Runtime> {
    const state = StateStore.open(config.state.path);
    let lock: RunLock | undefined;
    try {
      lock = RunLock.acquire(config.state.path);
      const metrics = new Metrics();
      const sinks: Sink[] = [];
      for (const [name, sinkConfig] of Object.entries(config.sinks)) {
        const sinkLog = componentLogger(log, 'sink', name);
        const handlers = [];
        const names = [...sinkConfig.handlers];
        // A trailing passthrough (the default chain) encodes just as the chain's own final encoder
        // does: leaving it to the encoder saves checking every record it makes.
        while (names.length > 0 && handlerType(config, names[names.length - 1]!) === 'passthrough')
          names.pop();
        for (const handlerName of names) {
          handlers.push(await createHandler(handlerName, handlerConfig(config, handlerName), sinkLog));
        }
        const chain = new HandlerChain(handlers, createPassthrough());
        sinks.push(
          createSink(name, sinkConfig, sinkSettings(sinkConfig), {
            log: sinkLog,
            logLevel: config.log.level,
            metrics,
            chain,
          }),
        );
      }
      const router = new Router(sinks, metrics);
      const sources = Object.entries(config.sources).map(([name, sourceConfig]) =>
        createSource(
          name,
          sourceConfig,
          { log: componentLogger(log, 'source', name), logLevel: config.log.level, metrics, router },
          state,
        ),
      );
      const runtime = new Runtime(config, log, state, lock, metrics, sources, sinks);
      for (const component of runtime.components()) {
        metrics.register(component);
        const componentConfig =
          component.role === 'source' ? config.sources[component.name] : config.sinks[component.name];
        if (componentConfig?.debug) component.debug = true;
      }
      return runtime;
    } catch (error) {
      lock?.release();
      state.close();
      throw error;
    }
  }

  components(): Component[] {
    return [...this.sources, ...this.sinks];
  }

  start(): void {
    for (const sink of this.sinks) sink.start();
    for (const source of this.sources) source.start();
    const interval = this.config.stats_interval;
    if (interval !== undefined && interval > 0) {
      this.statsTimer = setInterval(() => this.log.info({ stats: this.stats() }, 'stats'), interval);
      this.statsTimer.unref();
    }
    this.stateTimer = setInterval(() => this.checkState(), STATE_CHECK_MS);
    this.stateTimer.unref();
  }

  /**
   * Graceful stop: sources stop taking input, sinks deliver what they hold, acknowledged positions are
   * stored, connections close. Returns false when the shutdown deadline cut delivery short (what was
   * not acknowledged is sent again after a restart).
   */
  async stop(): Promise<boolean> {
    clearInterval(this.statsTimer);
    clearInterval(this.stateTimer);
    const deadline = AbortSignal.timeout(this.config.shutdown_timeout);
    for (const source of this.sources) source.stopInput();
    await Promise.all([
      ...this.sinks.map((sink) => sink.stop(deadline)),
      ...this.sources.map((source) => source.stop(deadline)),
    ]);
    this.checkState();
    this.dispose();
    return !deadline.aborted && this.state.failure === undefined;
  }

  /** Why the state file could not store positions, while it cannot (after stop(): at the end). */
  get stateFailure(): StateFailure | undefined {
    return this.state.failure;
  }

  /** Releases the state file; for a runtime that stopped, or never started. */
  dispose(): void {
    this.state.close();
    this.lock.release();
  }

  /** Switches per-event debug logging for every component, or for the one named. Returns the names switched. */
  setDebug(on: boolean, componentName?: string): string[] {
    const targets = this.components().filter((c) => componentName === undefined || c.name === componentName);
    if (targets.length === 0) {
      throw new UnknownComponentError(`no source or sink is named "${componentName ?? ''}"`);
    }
    for (const component of targets) component.debug = on;
    return targets.map((c) => c.name);
  }

  /** Starts a backfill on the source named; resolves with its id. */
  backfill(sourceName: string, request: BackfillRequest): Promise<string> {
    const source = this.sources.find((s) => s.name === sourceName);
    if (source === undefined) {
      return Promise.reject(new UnknownComponentError(`no source is named "${sourceName}"`));
    }
    return source.backfill(request);
  }

  /** The file at state.path must still be the one open (the store reports it if not). */
  private checkState(): void {
    try {
      this.state.verify();
    } catch (error) {
      if (!(error instanceof StateError)) throw error;
    }
  }

  /** Logged once per change of the state file's condition, not per attempt. */
  private stateFailed(failure: StateFailure | undefined): void {
    const path = this.state.file;
    if (failure === undefined) {
      this.stateError = null;
      this.log.info({ path }, `state.path ${path}: written again; positions are stored and confirmed again`);
      return;
    }
    this.stateError = { message: failure.message, code: failure.code, at: new Date().toISOString() };
    this.log.error({ err: failure, path }, failure.message);
  }

  status(): StatusReport {
    const report = (c: Component): ComponentReport => ({
      type: c.type,
      state: c.health.state,
      completed: c.health.completed,
      since: c.health.since,
      last_error: c.health.lastError,
      position: c.health.position,
      lag: c.health.lag,
      debug: c.debug,
      ...c.health.details,
    });
    return {
      // A state file that cannot store positions makes the sources that store them unhealthy.
      status: this.components().every((c) => c.health.healthy) ? 'ok' : 'degraded',
      version: VERSION,
      uptime_seconds: Math.round((Date.now() - this.started) / 1000),
      state_file: { path: this.state.file, ok: this.stateError === null, error: this.stateError },
      sources: Object.fromEntries(this.sources.map((s) => [s.name, report(s)])),
      sinks: Object.fromEntries(this.sinks.map((s) => [s.name, report(s)])),
    };
  }

  stats(): { sources: Record<string, StatsReport>; sinks: Record<string, StatsReport> } {
    const report = (c: Component): StatsReport => ({
      type: c.type,
      events_in: c.stats.eventsIn,
      events_out: c.stats.eventsOut,
      batches: c.stats.batches,
      errors: c.stats.errors,
      bytes: c.stats.bytes,
      dropped: { ...c.stats.dropped },
    });
    return {
      sources: Object.fromEntries(this.sources.map((s) => [s.name, report(s)])),
      sinks: Object.fromEntries(this.sinks.map((s) => [s.name, report(s)])),
    };
  }
}

export interface StatsReport {
  type: string;
  events_in: number;
  events_out: number;
  batches: number;
  errors: number;
  bytes: number;
  dropped: Record<string, number>;
}

/** A sink's `handlers` entry: a [handlers.x] table, or a built-in type used by name. */
function handlerConfig(config: Config, name: string): HandlerConfig {
  return config.handlers[name] ?? ({ type: name } as HandlerConfig);
}

function handlerType(config: Config, name: string): HandlerConfig['type'] {
  return handlerConfig(config, name).type;
}

function componentLogger(log: Logger, role: string, name: string): Logger {
  return log.child({ component: name, role });
}

function sinkSettings(config: SinkConfig): SinkSettings {
  return {
    batch: { size: config.batch_size, bytes: config.batch_bytes, lingerMs: config.linger },
    bufferBytes: config.buffer,
    retry: { initialMs: config.retry_initial, maxMs: config.retry_max },
  };
}
