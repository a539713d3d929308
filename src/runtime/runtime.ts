import type { Logger } from 'pino';
import type { Config } from './config-schema.js';
import type { Component, ComponentError, Problem } from '../core/component.js';
import { errorMessage } from '../core/errors.js';
import { Metrics } from '../core/metrics.js';
import type { Sink } from '../core/sink.js';
import type { BackfillRequest, Source } from '../core/source.js';
import { IdleMemory, processProbe } from './idle-memory.js';
import { OldHeapGrowth, oldHeapGrowth, processOldHeap } from './old-heap.js';
import { FAILED, type ReloadPlan, isEmptyPlan, planReload } from './reload-plan.js';
import { RunLock } from '../state/lock.js';
import { type StateFailure, StateError, StateStore } from '../state/store.js';
import { Topology } from './topology.js';
import { VERSION } from '../core/version.js';
import { YoungHeapLimit, processYoungHeap } from './young-heap.js';

export interface ComponentReport {
  type: string;
  state: string;
  /** Stopped with its work done (snapshot = "initial_only"): healthy. */
  completed: boolean;
  since: string;
  /** When this instance started: a reload that restarts the component moves it. */
  started_at: string | null;
  last_error: Component['health']['lastError'];
  /** What keeps a running component from being healthy (tables not streamed...). */
  problems: Problem[];
  position: string | null;
  lag: Component['health']['lag'];
  [detail: string]: unknown;
}

/** How one config reload ended. */
export interface ReloadOutcome {
  /** When it ended. */
  at: string;
  /** ok: the file is applied; failed: it was refused and the running config kept, as it was. */
  result: 'ok' | 'failed';
  file: string;
  /** What was done, or why the file was refused (every problem, each naming the file and key). */
  message: string;
  /** What did not go as it should although the file was applied (a drain cut short...). */
  problems: string[];
  changes: ReloadPlan | null;
}

export interface ReloadReport {
  /** Reloads asked for (SIGHUP) since the start, applied or not. */
  count: number;
  in_progress: boolean;
  last: ReloadOutcome | null;
}

export interface StatusReport {
  status: 'ok' | 'degraded';
  version: string;
  uptime_seconds: number;
  /** The state file: `error` while it cannot store positions (a failed write, a deleted file). */
  state_file: { path: string; ok: boolean; error: ComponentError | null };
  reload: ReloadReport;
  sources: Record<string, ComponentReport>;
  sinks: Record<string, ComponentReport>;
}

/** What a reload asks of the layer that owns the HTTP API. */
export interface ReloadHooks {
  /** Moves the API to `listen` ("off": closes it); throws, the API left where it was, when it cannot. */
  moveHttp?(listen: string): Promise<void>;
}

/** How often the runtime checks that the state file is still the one open, also when nothing is written. */
const STATE_CHECK_MS = 5000;

export class UnknownComponentError extends Error {
  readonly code = 'PGRELAY_UNKNOWN_COMPONENT';
}

/**
 * Everything one config file describes, built, wired and run: sources → router → sinks, and the
 * config reloads (SIGHUP) applied to them as a diff (topology.ts).
 */
export class Runtime {
  private readonly started = Date.now();
  private statsTimer: NodeJS.Timeout | undefined;
  private stateTimer: NodeJS.Timeout | undefined;
  private stateError: ComponentError | null = null;
  private readonly stopping = new AbortController();
  /** The reloads asked for, in order: one runs at a time. */
  private reloads: Promise<unknown> = Promise.resolve();
  /** A reload asked for and not begun yet: further requests join it (its read of the file is fresh). */
  private nextReload: Promise<ReloadOutcome> | undefined;
  private readonly reloadReport: ReloadReport = { count: 0, in_progress: false, last: null };
  private readonly idleMemory: IdleMemory;
  private readonly oldHeap: OldHeapGrowth;
  private readonly youngHeap: YoungHeapLimit;

  private constructor(
    private current: Config,
    readonly log: Logger,
    readonly state: StateStore,
    private readonly lock: RunLock,
    readonly metrics: Metrics,
    private readonly topology: Topology,
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
    this.idleMemory = new IdleMemory(
      processProbe(() => this.components().reduce((sum, c) => sum + c.stats.eventsIn, 0)),
      log,
    );
    metrics.counter(
      'pgrelay_memory_releases_total',
      'Times pgrelay gave memory back after no event moved for release_memory_when_idle.',
      () => this.idleMemory.releases,
    );
    this.oldHeap = new OldHeapGrowth(processOldHeap(), log);
    this.youngHeap = new YoungHeapLimit(processYoungHeap(), log);
    metrics.counter(
      'pgrelay_old_heap_collections_total',
      "Full garbage collections pgrelay ran because V8's old generation grew by old_heap_growth.",
      () => this.oldHeap.collections,
    );
  }

  static async create(config: Config, log: Logger): Promise<Runtime> {
    const state = StateStore.open(config.state.path);
    let lock: RunLock | undefined;
    try {
      lock = RunLock.acquire(config.state.path);
      const metrics = new Metrics();
      const topology = await Topology.build(config, { log, state, metrics });
      return new Runtime(config, log, state, lock, metrics, topology);
    } catch (error) {
      lock?.release();
      state.close();
      throw error;
    }
  }

  /** The config running: the one started with, or the last reload applied. */
  get config(): Config {
    return this.current;
  }

  get sources(): readonly Source[] {
    return this.topology.sources;
  }

  get sinks(): readonly Sink[] {
    return this.topology.sinks;
  }

  components(): Component[] {
    return this.topology.components();
  }

  /** The components that stopped for good (`failed`): what the exit status reports at the stop. */
  failedComponents(): Component[] {
    return this.components().filter((c) => c.health.state === 'failed');
  }

  start(): void {
    this.topology.start();
    this.startStatsTimer();
    this.idleMemory.schedule(this.config.release_memory_when_idle);
    this.applyHeapSettings(this.config);
    this.stateTimer = setInterval(() => this.checkState(), STATE_CHECK_MS);
    this.stateTimer.unref();
  }

  /**
   * Graceful stop: a reload under way ends first (its waits cut short), sources stop taking input,
   * sinks deliver what they hold, acknowledged positions are stored, connections close. Returns false
   * when the shutdown deadline cut delivery short (what was not acknowledged is sent again after a
   * restart).
   */
  async stop(): Promise<boolean> {
    this.stopping.abort();
    await this.reloads;
    clearInterval(this.statsTimer);
    clearInterval(this.stateTimer);
    this.idleMemory.stop();
    this.oldHeap.stop();
    this.youngHeap.stop();
    const deadline = AbortSignal.timeout(this.config.shutdown_timeout);
    await this.topology.stop(deadline);
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

  /**
   * Reads the config again (`load`) and applies it: validated first, and refused as a whole (the
   * running config kept, every problem logged) when invalid; otherwise only the components whose
   * config changed, or that had failed, restart, each after delivering what it holds (topology.ts).
   * `state.path` cannot change while pgrelay runs: the running one is kept, with a warning.
   * Reloads run one at a time; one asked for while another waits to begin is that one.
   */
  reload(load: () => Config, hooks: ReloadHooks = {}): Promise<ReloadOutcome> {
    this.reloadReport.count++;
    if (this.nextReload !== undefined) return this.nextReload;
    const reload = this.reloads.then(() => {
      this.nextReload = undefined;
      return this.applyReload(load, hooks);
    });
    this.nextReload = reload;
    this.reloads = reload;
    return reload;
  }

  private async applyReload(load: () => Config, hooks: ReloadHooks): Promise<ReloadOutcome> {
    const file = this.config.file;
    if (this.stopping.signal.aborted)
      return this.reloadEnded({ result: 'failed', file, message: 'pgrelay is stopping', changes: null });
    this.reloadReport.in_progress = true;
    try {
      let next: Config;
      let plan: ReloadPlan;
      try {
        next = load();
        plan = planReload(this.config, next, this.topology.failed());
      } catch (error) {
        return this.reloadEnded({ result: 'failed', file, message: errorMessage(error), changes: null });
      }
      // The state file stays open where it is; everything else may change.
      next = { ...next, state: this.config.state };
      if (isEmptyPlan(plan))
        return this.reloadEnded({ result: 'ok', file, message: 'nothing changed', changes: plan });
      this.logPlan(plan);

      let prepared;
      try {
        prepared = await this.topology.prepare(next, plan);
      } catch (error) {
        return this.reloadEnded({ result: 'failed', file, message: errorMessage(error), changes: plan });
      }
      if (plan.applied.includes('http.listen') && hooks.moveHttp !== undefined) {
        try {
          await hooks.moveHttp(next.http.listen);
        } catch (error) {
          await prepared.discard();
          return this.reloadEnded({
            result: 'failed',
            file,
            message: errorMessage(error),
            changes: plan,
          });
        }
      }

      const previous = this.config;
      this.current = next;
      if (previous.log.level !== next.log.level) {
        this.log.level = next.log.level;
        this.topology.setLogLevel(next.log.level);
      }
      if (previous.stats_interval !== next.stats_interval) this.startStatsTimer();
      if (previous.release_memory_when_idle !== next.release_memory_when_idle)
        this.idleMemory.schedule(next.release_memory_when_idle);
      this.applyHeapSettings(next);
      const deadline = AbortSignal.any([
        AbortSignal.timeout(previous.shutdown_timeout),
        this.stopping.signal,
      ]);
      let problems: string[];
      try {
        problems = await prepared.apply(deadline);
      } catch (error) {
        // A bug, not a config problem: what runs now is part old, part new.
        return this.reloadEnded({
          result: 'failed',
          file,
          message: `the reload stopped midway: ${errorMessage(error)}; restart pgrelay`,
          changes: plan,
        });
      }
      return this.reloadEnded({ result: 'ok', file, message: describePlan(plan), changes: plan, problems });
    } finally {
      this.reloadReport.in_progress = false;
    }
  }

  private logPlan(plan: ReloadPlan): void {
    for (const [role, changes] of [
      ['source', plan.sources],
      ['sink', plan.sinks],
    ] as const) {
      for (const name of changes.added) this.log.info({ [role]: name }, `reload: ${role} ${name} added`);
      for (const name of changes.removed) this.log.info({ [role]: name }, `reload: ${role} ${name} removed`);
      for (const [name, why] of Object.entries(changes.restarted))
        this.log.info(
          { [role]: name, changed: why },
          `reload: ${role} ${name} restarts: ${why.map((w) => (w === FAILED ? w : `${w} changed`)).join(', ')}`,
        );
    }
    for (const key of plan.applied) this.log.info({ key }, `reload: ${key} changed: applied`);
    for (const { key, running, file } of plan.kept)
      this.log.warn(
        { key, running, file },
        `reload: ${key} changed to ${file}, which cannot change while pgrelay runs: keeping ${running} until a restart`,
      );
  }

  private reloadEnded(
    outcome: Omit<ReloadOutcome, 'at' | 'problems'> & { problems?: string[] },
  ): ReloadOutcome {
    const at = new Date();
    const ended: ReloadOutcome = { ...outcome, at: at.toISOString(), problems: outcome.problems ?? [] };
    this.reloadReport.last = ended;
    this.metrics.recordReload(ended.result === 'ok', at);
    if (ended.result === 'failed') {
      this.log.error(
        { file: ended.file, reload: 'failed' },
        `reload of ${ended.file} refused, still running the previous config:\n${ended.message}`,
      );
    } else {
      for (const problem of ended.problems) this.log.warn({ reload: 'ok' }, `reload: ${problem}`);
      this.log.info({ file: ended.file, reload: 'ok' }, `reload of ${ended.file} applied: ${ended.message}`);
    }
    return ended;
  }

  /** old_heap_growth (its "auto" depends on the sources) and young_heap_limit. */
  private applyHeapSettings(config: Config): void {
    const types = Object.values(config.sources).map((source) => source.type);
    this.oldHeap.schedule(oldHeapGrowth(config.old_heap_growth, types));
    this.youngHeap.set(config.young_heap_limit);
  }

  private startStatsTimer(): void {
    clearInterval(this.statsTimer);
    this.statsTimer = undefined;
    const interval = this.config.stats_interval;
    if (interval !== undefined && interval > 0) {
      this.statsTimer = setInterval(() => this.log.info({ stats: this.stats() }, 'stats'), interval);
      this.statsTimer.unref();
    }
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
    this.stateError = {
      message: failure.message,
      code: failure.code,
      at: new Date().toISOString(),
      config_key: null,
    };
    this.log.error({ err: failure, path }, failure.message);
  }

  status(): StatusReport {
    const report = (c: Component): ComponentReport => ({
      type: c.type,
      state: c.health.state,
      completed: c.health.completed,
      since: c.health.since,
      started_at: this.topology.startedAtOf(c),
      last_error: c.health.lastError,
      problems: c.health.problems,
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
      reload: { ...this.reloadReport },
      sources: Object.fromEntries(this.sources.map((s) => [s.name, report(s)])),
      sinks: Object.fromEntries(this.sinks.map((s) => [s.name, report(s)])),
    };
  }

  stats(): StatsBody {
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

/** What /stats answers. */
export interface StatsBody {
  sources: Record<string, StatsReport>;
  sinks: Record<string, StatsReport>;
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

/** "1 restarted, 1 added, 0 removed, 2 unchanged": the summary of a reload applied. */
function describePlan(plan: ReloadPlan): string {
  const part = (changes: ReloadPlan['sources'], role: string) =>
    `${role}: ${Object.keys(changes.restarted).length} restarted, ${changes.added.length} added, ` +
    `${changes.removed.length} removed, ${changes.unchanged.length} unchanged`;
  const settings = plan.applied.length > 0 ? `; ${plan.applied.join(', ')} applied` : '';
  return `${part(plan.sources, 'sources')}; ${part(plan.sinks, 'sinks')}${settings}`;
}
