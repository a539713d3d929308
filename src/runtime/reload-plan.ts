import { isDeepStrictEqual } from 'node:util';
import type { Config, HandlerConfig, SinkConfig, SourceConfig } from './config-schema.js';

/** What a reload does to the sources, or to the sinks. */
export interface ComponentChanges {
  added: string[];
  removed: string[];
  /** Replaced by a new instance, each with why: the keys that changed, or that it had failed. */
  restarted: Record<string, string[]>;
  /** Left running as they are. */
  unchanged: string[];
  /** Among the unchanged: those whose `debug` key changed, with its new value (no restart needed). */
  debug: Record<string, boolean>;
}

/** A top-level key that cannot change while pgrelay runs: the running value stays until a restart. */
export interface KeptSetting {
  key: string;
  running: string;
  file: string;
}

export interface ReloadPlan {
  sources: ComponentChanges;
  sinks: ComponentChanges;
  /** Top-level keys the reload applies in place (`log.level`, `http.listen`...). */
  applied: string[];
  kept: KeptSetting[];
}

/** The reason given for restarting a component whose config did not change. */
export const FAILED = 'it had failed';

/**
 * What applying `next` to a pgrelay running `running` takes: the sources and sinks to add, remove,
 * restart and leave alone. A component restarts when its own table changed (`debug` aside: it is
 * switched in place) or, for a sink, a `[handlers.x]` table it uses; wiring is the sinks' `sources`,
 * so a sink whose `sources` changed restarts and its sources do not. `failed` names the components
 * that stopped for good: a reload starts them again, so fixing what they need outside pgrelay (a
 * GRANT, a password on the server) and reloading is enough.
 */
export function planReload(
  running: Config,
  next: Config,
  failed: { sources: ReadonlySet<string>; sinks: ReadonlySet<string> },
): ReloadPlan {
  const sinkTable = (config: Config, name: string) => {
    const sink = config.sinks[name];
    if (sink === undefined) return undefined;
    const handlers: Record<string, HandlerConfig | undefined> = {};
    for (const handler of sink.handlers) handlers[handler] = config.handlers[handler];
    return { sink, handlers };
  };
  const plan: ReloadPlan = {
    sources: diffComponents(running.sources, next.sources, failed.sources, (config, name) =>
      changedKeys(withoutDebug(running.sources[name]), withoutDebug(config), `sources.${name}`),
    ),
    sinks: diffComponents(running.sinks, next.sinks, failed.sinks, (_config, name) => {
      const before = sinkTable(running, name)!;
      const after = sinkTable(next, name)!;
      return [
        ...changedKeys(withoutDebug(before.sink), withoutDebug(after.sink), `sinks.${name}`),
        ...after.sink.handlers.flatMap((handler) =>
          changedKeys(before.handlers[handler], after.handlers[handler], `handlers.${handler}`),
        ),
      ];
    }),
    ...topLevel(running, next),
  };
  restartExactlyOncePairs(plan, running, next);
  return plan;
}

/**
 * An exactly_once Kafka source and its one sink share a transaction link (and what the sink had not
 * delivered is read again from the committed offsets): when one of them starts anew, so does the other.
 */
function restartExactlyOncePairs(plan: ReloadPlan, running: Config, next: Config): void {
  const exactlyOnce = (config: SourceConfig | undefined) => config?.type === 'kafka' && config.exactly_once;
  for (const [source, config] of Object.entries(next.sources)) {
    if (!exactlyOnce(config) && !exactlyOnce(running.sources[source])) continue;
    const sinks = Object.keys(next.sinks).filter((sink) => next.sinks[sink]!.sources.includes(source));
    const moves = (changes: ComponentChanges, name: string) =>
      name in changes.restarted || changes.added.includes(name);
    if (moves(plan.sources, source)) {
      for (const sink of sinks) restartWith(plan.sinks, sink, `its exactly_once source ${source} restarts`);
    } else if (sinks.some((sink) => moves(plan.sinks, sink))) {
      restartWith(plan.sources, source, 'its exactly_once sink restarts');
    }
  }
}

function restartWith(changes: ComponentChanges, name: string, why: string): void {
  if (name in changes.restarted || changes.added.includes(name)) return;
  changes.unchanged = changes.unchanged.filter((unchanged) => unchanged !== name);
  delete changes.debug[name];
  changes.restarted[name] = [why];
}

function diffComponents<C extends SourceConfig | SinkConfig>(
  running: Record<string, C>,
  next: Record<string, C>,
  failed: ReadonlySet<string>,
  changes: (config: C, name: string) => string[],
): ComponentChanges {
  const result: ComponentChanges = { added: [], removed: [], restarted: {}, unchanged: [], debug: {} };
  for (const name of Object.keys(running)) if (!(name in next)) result.removed.push(name);
  for (const [name, config] of Object.entries(next)) {
    if (!(name in running)) {
      result.added.push(name);
      continue;
    }
    const why = changes(config, name);
    if (why.length === 0 && failed.has(name)) why.push(FAILED);
    if (why.length > 0) {
      result.restarted[name] = why;
      continue;
    }
    result.unchanged.push(name);
    if (running[name]!.debug !== config.debug) result.debug[name] = config.debug;
  }
  return result;
}

/** The top-level keys: those a reload applies, and those it cannot (state.path: the open state file). */
function topLevel(running: Config, next: Config): { applied: string[]; kept: KeptSetting[] } {
  const applied: string[] = [];
  const kept: KeptSetting[] = [];
  if (running.state.path !== next.state.path)
    kept.push({ key: 'state.path', running: running.state.path, file: next.state.path });
  if (running.http.listen !== next.http.listen) applied.push('http.listen');
  if (running.http.token !== next.http.token) applied.push('http.token');
  if (running.log.level !== next.log.level) applied.push('log.level');
  if (running.shutdown_timeout !== next.shutdown_timeout) applied.push('shutdown_timeout');
  if (running.stats_interval !== next.stats_interval) applied.push('stats_interval');
  if (running.release_memory_when_idle !== next.release_memory_when_idle)
    applied.push('release_memory_when_idle');
  if (running.old_heap_growth !== next.old_heap_growth) applied.push('old_heap_growth');
  if (running.young_heap_limit !== next.young_heap_limit) applied.push('young_heap_limit');
  return { applied, kept };
}

function withoutDebug<C extends { debug?: boolean }>(config: C | undefined): Omit<C, 'debug'> | undefined {
  if (config === undefined) return undefined;
  const { debug: _debug, ...rest } = config;
  return rest;
}

/** The dotted paths under `path` where `a` and `b` differ; values only, so secrets stay out of logs. */
function changedKeys(a: unknown, b: unknown, path: string): string[] {
  if (isDeepStrictEqual(a, b)) return [];
  if (isTable(a) && isTable(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((key) => changedKeys(a[key], b[key], `${path}.${key}`));
  }
  return [path];
}

function isTable(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof RegExp);
}

/** True when the plan changes nothing at all. */
export function isEmptyPlan(plan: ReloadPlan): boolean {
  const none = (c: ComponentChanges) =>
    c.added.length === 0 &&
    c.removed.length === 0 &&
    Object.keys(c.restarted).length === 0 &&
    Object.keys(c.debug).length === 0;
  return none(plan.sources) && none(plan.sinks) && plan.applied.length === 0 && plan.kept.length === 0;
}
