import type { Logger } from 'pino';
import { createPassthrough } from '../handlers/passthrough/handler.js';
import type { Config, HandlerConfig, SinkConfig } from './config-schema.js';
import type { Component, Problem } from '../core/component.js';
import { HandlerChain } from '../core/handler-chain.js';
import { Metrics } from '../core/metrics.js';
import { Router } from '../core/router.js';
import type { Sink, SinkSettings } from '../core/sink.js';
import type { BackfillRequest, Source } from '../core/source.js';
import { createHandler, createSink, createSource } from './components.js';
import { RunLock } from '../state/lock.js';
import { StateStore } from '../state/store.js';
import { VERSION } from '../core/version.js';

export interface ComponentReport {
  type: string;
  state: string;
  /** Stopped with its work done (snapshot = "initial_only"): healthy. */
  completed: boolean;
  since: string;
  last_error: { message: string; code: string | null; at: string } | null;
  /** What keeps a running component from being healthy (tables not streamed...). */
  problems: Problem[];
  position: string | null;
  lag: Component['health']['lag'];
  [detail: string]: unknown;
}

export interface StatusReport {
  status: 'ok' | 'degraded';
  version: string;
  uptime_seconds: number;
  sources: Record<string, ComponentReport>;
  sinks: Record<string, ComponentReport>;
}

export class UnknownComponentError extends Error {
  readonly code = 'PGRELAY_UNKNOWN_COMPONENT';
}

/** Everything one config file describes, built, wired and run: sources → router → sinks. */
export class Runtime {
  private readonly started = Date.now();
  private statsTimer: NodeJS.Timeout | undefined;

  private constructor(
    readonly config: Config,
    readonly log: Logger,
    readonly state: StateStore,
    private readonly lock: RunLock,
    readonly metrics: Metrics,
    readonly sources: readonly Source[],
    readonly sinks: readonly Sink[],
  ) {}

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
        for (const handlerName of sinkConfig.handlers) {
          const handlerConfig = config.handlers[handlerName] ?? ({ type: handlerName } as HandlerConfig);
          handlers.push(await createHandler(handlerName, handlerConfig, sinkLog));
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
  }

  /**
   * Graceful stop: sources stop taking input, sinks deliver what they hold, acknowledged positions are
   * stored, connections close. Returns false when the shutdown deadline cut delivery short (what was
   * not acknowledged is sent again after a restart).
   */
  async stop(): Promise<boolean> {
    clearInterval(this.statsTimer);
    const deadline = AbortSignal.timeout(this.config.shutdown_timeout);
    for (const source of this.sources) source.stopInput();
    await Promise.all([
      ...this.sinks.map((sink) => sink.stop(deadline)),
      ...this.sources.map((source) => source.stop(deadline)),
    ]);
    this.dispose();
    return !deadline.aborted;
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

  status(): StatusReport {
    const report = (c: Component): ComponentReport => ({
      type: c.type,
      state: c.health.state,
      completed: c.health.completed,
      since: c.health.since,
      last_error: c.health.lastError,
      problems: c.health.problems,
      position: c.health.position,
      lag: c.health.lag,
      debug: c.debug,
      ...c.health.details,
    });
    return {
      status: this.components().every((c) => c.health.healthy) ? 'ok' : 'degraded',
      version: VERSION,
      uptime_seconds: Math.round((Date.now() - this.started) / 1000),
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
