import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Component } from '../core/component.js';
import { errorMessage } from '../core/errors.js';
import { HandlerChain } from '../core/handler-chain.js';
import type { Metrics } from '../core/metrics.js';
import { Router } from '../core/router.js';
import type { Sink, SinkSettings } from '../core/sink.js';
import type { Source } from '../core/source.js';
import { createPassthrough } from '../handlers/passthrough/handler.js';
import { ExactlyOnceLink } from '../kafka/exactly-once.js';
import type { StateStore } from '../state/store.js';
import { createHandler, createSink, createSource } from './components.js';
import type { Config, HandlerConfig, SinkConfig } from './config-schema.js';
import { keyToFixOf } from './keys-to-fix.js';
import type { ReloadPlan } from './reload-plan.js';

/** What every component of a topology shares. */
export interface TopologyContext {
  log: Logger;
  state: StateStore;
  metrics: Metrics;
}

/** A reload's new sinks, built (handlers loaded) and not yet started: apply() or discard(). */
export interface PreparedChange {
  /** Applies the plan; resolves with what did not go as it should (a drain cut short...). */
  apply(deadline: AbortSignal): Promise<string[]>;
  /** Drops the new sinks unused: the running topology stays as it is. */
  discard(): Promise<void>;
}

/** A stop deadline already passed: for components with nothing they can still deliver. */
const AT_ONCE = AbortSignal.abort();

/**
 * The sources and sinks of one config, wired through the router, and the only place that starts and
 * stops them (the topology owns restarts, as in Vector and Redpanda Connect). A reload is applied as
 * a diff, so components whose config did not change run on untouched:
 *
 * 1. sources that go (removed or restarted) stop taking input, wait until their sinks hold what they
 *    handed out, and store their positions;
 * 2. sinks that go are held by the router (new batches for them wait, and so do the sources feeding
 *    them), deliver what they hold and stop;
 * 3. a restarted sink's replacement takes over what the old one could not deliver (it had failed, or
 *    the deadline passed) with the acknowledgements, so no position moves past undelivered data; a
 *    removed sink's leftovers are given up (nobody wants them any more), which lets its sources move on;
 *    then the router switches to the new wiring and the held batches go on;
 * 4. new and restarted sources start from their stored positions, built only now so that they read
 *    the positions the old ones stored.
 */
export class Topology {
  private readonly sourceMap = new Map<string, Source>();
  private readonly sinkMap = new Map<string, Sink>();
  private readonly startedAt = new Map<Component, string>();
  private readonly router: Router;

  private constructor(
    private readonly context: TopologyContext,
    sinks: Sink[],
    /** Each exactly_once Kafka source's link to its one sink, by source name. */
    private links: Map<string, ExactlyOnceLink>,
  ) {
    for (const sink of sinks) this.sinkMap.set(sink.name, sink);
    this.router = new Router(sinks, context.metrics);
  }

  /** Builds every component of `config`, none started. */
  static async build(config: Config, context: TopologyContext): Promise<Topology> {
    const links = new Map<string, ExactlyOnceLink>();
    for (const name of Object.keys(config.sources)) {
      const link = exactlyOnceLink(config, name, context.log);
      if (link !== undefined) links.set(name, link);
    }
    const sinks: Sink[] = [];
    try {
      for (const name of Object.keys(config.sinks))
        sinks.push(await buildSink(config, name, context, linkOfSink(config, name, links)));
    } catch (error) {
      await Promise.all(sinks.map((sink) => sink.stop(AT_ONCE)));
      throw error;
    }
    const topology = new Topology(context, sinks, links);
    for (const name of Object.keys(config.sources)) topology.addSource(config, name);
    for (const component of topology.components()) {
      context.metrics.register(component);
      if (componentConfig(config, component)?.debug) component.debug = true;
    }
    return topology;
  }

  get sources(): Source[] {
    return [...this.sourceMap.values()];
  }

  get sinks(): Sink[] {
    return [...this.sinkMap.values()];
  }

  components(): Component[] {
    return [...this.sources, ...this.sinks];
  }

  /** When the component (this instance of it) was started. */
  startedAtOf(component: Component): string | null {
    return this.startedAt.get(component) ?? null;
  }

  /** The names of the components that stopped for good. */
  failed(): { sources: Set<string>; sinks: Set<string> } {
    const names = (components: Component[]) =>
      new Set(components.filter((c) => c.health.state === 'failed').map((c) => c.name));
    return { sources: names(this.sources), sinks: names(this.sinks) };
  }

  start(): void {
    for (const sink of this.sinks) this.startComponent(sink);
    for (const source of this.sources) this.startComponent(source);
  }

  /** Sources stop taking input, sinks deliver what they hold, positions are stored. */
  async stop(deadline: AbortSignal): Promise<void> {
    for (const source of this.sources) source.stopInput();
    await Promise.all([
      ...this.sinks.map((sink) => sink.stop(deadline)),
      ...this.sources.map((source) => source.stop(deadline)),
    ]);
  }

  /** Switches every component's log level (`[log] level`); debug logging stays where it is. */
  setLogLevel(level: string): void {
    for (const component of this.components()) component.logLevel = level;
  }

  /**
   * Builds the sinks `plan` adds or restarts (loading their handlers: a module that fails to load
   * fails here, with nothing changed yet) for `next`.
   */
  async prepare(next: Config, plan: ReloadPlan): Promise<PreparedChange> {
    // An exactly_once source and its sink restart together (planReload), on a link of their own.
    const links = new Map<string, ExactlyOnceLink>();
    for (const name of Object.keys(next.sources)) {
      const moves = name in plan.sources.restarted || plan.sources.added.includes(name);
      const link = moves ? exactlyOnceLink(next, name, this.context.log) : this.links.get(name);
      if (link !== undefined) links.set(name, link);
    }
    const built = new Map<string, Sink>();
    const discard = async () => {
      await Promise.all([...built.values()].map((sink) => sink.stop(AT_ONCE)));
    };
    try {
      for (const name of [...plan.sinks.added, ...Object.keys(plan.sinks.restarted)])
        built.set(name, await buildSink(next, name, this.context, linkOfSink(next, name, links)));
    } catch (error) {
      await discard();
      throw error;
    }
    return { apply: (deadline) => this.apply(next, plan, built, links, deadline), discard };
  }

  private async apply(
    next: Config,
    plan: ReloadPlan,
    built: Map<string, Sink>,
    links: Map<string, ExactlyOnceLink>,
    deadline: AbortSignal,
  ): Promise<string[]> {
    const problems: string[] = [];
    const goingSinks = new Set(
      [...plan.sinks.removed, ...Object.keys(plan.sinks.restarted)].map((name) => this.sinkMap.get(name)!),
    );
    const goingSources = [...plan.sources.removed, ...Object.keys(plan.sources.restarted)].map((name) =>
      this.sourceMap.get(name)!,
    );

    // 1. Sources that go deliver what they handed out. A sink that failed and goes too will never
    // acknowledge: its batches move to its replacement below, so there is nothing to wait for.
    for (const source of goingSources) source.stopInput();
    await Promise.all(
      goingSources.map(async (source) => {
        const stuck = this.router
          .sinksOf(source.name)
          .some((sink) => goingSinks.has(sink) && sink.health.state === 'failed');
        await source.stop(stuck ? AT_ONCE : deadline);
      }),
    );
    if (goingSources.length > 0 && deadline.aborted)
      problems.push(
        'the deadline (shutdown_timeout) passed before the sources that restart had every batch acknowledged: what was not is sent again',
      );

    // 2. Sinks that go deliver what they hold; one that cannot deliver now is not waited for.
    this.router.hold(goingSinks);
    await Promise.all(
      [...goingSinks].map((sink) => sink.stop(sink.health.state === 'running' ? deadline : AT_ONCE)),
    );

    // 3. What they could not deliver: to their replacements, or given up with a removed sink.
    for (const name of plan.sinks.removed) {
      const sink = this.sinkMap.get(name)!;
      const given = giveUp(sink.takeUndelivered());
      if (given > 0)
        problems.push(`sink ${name} was removed holding ${given} events it had not delivered: given up`);
      this.sinkMap.delete(name);
      this.startedAt.delete(sink);
      this.context.metrics.remove(sink);
    }
    for (const [name, sink] of built) {
      const previous = this.sinkMap.get(name);
      if (previous !== undefined) {
        sink.stats.carryOver(previous.stats);
        const leftovers = previous.takeUndelivered();
        // An exactly_once source reads what its sink did not deliver again, from its committed offsets.
        const kept = leftovers.filter(
          ({ batch }) => sink.sources.includes(batch.source) && !links.has(batch.source),
        );
        for (const { batch, ack } of kept) sink.accept(batch, ack);
        const given = giveUp(leftovers.filter((leftover) => !kept.includes(leftover)));
        if (given > 0)
          problems.push(
            `sink ${name} no longer reads the sources of ${given} events it had not delivered: given up`,
          );
        const events = kept.reduce((sum, { batch }) => sum + batch.events.length, 0);
        if (events > 0)
          this.context.log.info(
            { sink: name, events },
            `sink ${name}: the new instance takes over ${events} events the old one had not delivered`,
          );
        this.startedAt.delete(previous);
        this.context.metrics.replace(previous, sink);
      } else {
        this.context.metrics.register(sink);
      }
      this.sinkMap.set(name, sink);
      if (next.sinks[name]!.debug) sink.debug = true;
      this.startComponent(sink);
    }
    this.router.rewire(this.sinks);

    // 4. Sources, built now: they read the positions the old instances stored.
    this.links = links;
    for (const name of plan.sources.removed) {
      const source = this.sourceMap.get(name)!;
      this.sourceMap.delete(name);
      this.startedAt.delete(source);
      this.context.metrics.remove(source);
    }
    for (const name of [...Object.keys(plan.sources.restarted), ...plan.sources.added]) {
      const previous = this.sourceMap.get(name);
      let source: Source;
      try {
        source = this.addSource(next, name);
      } catch (error) {
        problems.push(`source ${name} could not be built: ${errorMessage(error)}; restart pgrelay`);
        continue;
      }
      if (previous !== undefined) {
        source.stats.carryOver(previous.stats);
        this.startedAt.delete(previous);
        this.context.metrics.replace(previous, source);
      } else {
        this.context.metrics.register(source);
      }
      if (next.sources[name]!.debug) source.debug = true;
      this.startComponent(source);
    }

    for (const [name, on] of Object.entries(plan.sources.debug)) this.sourceMap.get(name)!.debug = on;
    for (const [name, on] of Object.entries(plan.sinks.debug)) this.sinkMap.get(name)!.debug = on;
    return problems;
  }

  private addSource(config: Config, name: string): Source {
    const source = createSource(
      name,
      config.sources[name]!,
      {
        log: componentLogger(this.context.log, 'source', name),
        logLevel: config.log.level,
        metrics: this.context.metrics,
        router: this.router,
        keyToFix: keyToFixOf(config, 'source', name),
      },
      this.context.state,
      this.links.get(name),
    );
    this.sourceMap.set(name, source);
    return source;
  }

  private startComponent(component: Source | Sink): void {
    this.startedAt.set(component, new Date().toISOString());
    component.start();
  }
}

/**
 * The link of an exactly_once Kafka source to its one sink (the config checks see to there being one).
 * Its transactional id is the same on every run of this pgrelay (this machine, this state file), so a
 * restart after kill -9 fences the dead run and aborts its open transaction at once, and differs
 * between pgrelay processes sharing the group.
 */
function exactlyOnceLink(config: Config, name: string, log: Logger): ExactlyOnceLink | undefined {
  const source = config.sources[name]!;
  if (source.type !== 'kafka' || !source.exactly_once) return undefined;
  const instance = createHash('sha256')
    .update(`${hostname()}\0${config.state.path}`)
    .digest('hex')
    .slice(0, 16);
  const id = `pgrelay-${source.group_id}-${name}-${instance}`;
  const timeout = source.transaction_timeout!;
  return new ExactlyOnceLink(name, id, timeout, componentLogger(log, 'source', name));
}

function linkOfSink(
  config: Config,
  name: string,
  links: Map<string, ExactlyOnceLink>,
): ExactlyOnceLink | undefined {
  const { sources } = config.sinks[name]!;
  return sources.length === 1 ? links.get(sources[0]!) : undefined;
}

async function buildSink(
  config: Config,
  name: string,
  context: TopologyContext,
  link: ExactlyOnceLink | undefined,
): Promise<Sink> {
  const sinkConfig = config.sinks[name]!;
  const log = componentLogger(context.log, 'sink', name);
  const handlers = [];
  const names = [...sinkConfig.handlers];
  // A trailing passthrough (the default chain) encodes just as the chain's own final encoder
  // does: leaving it to the encoder saves checking every record it makes.
  while (names.length > 0 && handlerType(config, names[names.length - 1]!) === 'passthrough') names.pop();
  for (const handlerName of names) {
    handlers.push(await createHandler(handlerName, handlerConfig(config, handlerName), log));
  }
  return createSink(
    name,
    sinkConfig,
    sinkSettings(sinkConfig),
    {
      log,
      logLevel: config.log.level,
      metrics: context.metrics,
      chain: new HandlerChain(handlers, createPassthrough({ untouched: handlers.length === 0 })),
      keyToFix: keyToFixOf(config, 'sink', name),
    },
    link,
  );
}

/** A sink's `handlers` entry: a [handlers.x] table, or a built-in type used by name. */
function handlerConfig(config: Config, name: string): HandlerConfig {
  return config.handlers[name] ?? ({ type: name } as HandlerConfig);
}

function handlerType(config: Config, name: string): HandlerConfig['type'] {
  return handlerConfig(config, name).type;
}

/** Acknowledges batches nobody will deliver; returns how many events they held. */
function giveUp(leftovers: { batch: { events: readonly unknown[] }; ack: () => void }[]): number {
  let events = 0;
  for (const { batch, ack } of leftovers) {
    events += batch.events.length;
    ack();
  }
  return events;
}

function componentConfig(config: Config, component: Component) {
  return component.role === 'source' ? config.sources[component.name] : config.sinks[component.name];
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
