import type { Ack, SourceBatch } from './batch.js';
import type { Metrics } from './metrics.js';
import type { Sink } from './sink.js';

/**
 * Explicit wiring from sources to sinks. A batch goes to every sink wired to its source; the source's
 * ack runs once all of them delivered it. Each sink buffers on its own, so one slow sink does not
 * stall the others until its buffer is full.
 *
 * A config reload replaces sinks while their sources run: hold() keeps new batches away from the sinks
 * being replaced (their sources wait, as they wait for buffer room) until rewire() puts the new wiring
 * in place, between two batches.
 */
export class Router {
  private routes = new Map<string, Sink[]>();
  private held = new Set<Sink>();
  private holding: PromiseWithResolvers<void> | undefined;

  /** `metrics` counts what each source hands out, per table, for every kind of source alike. */
  constructor(
    sinks: readonly Sink[],
    private readonly metrics?: Metrics,
  ) {
    this.rewire(sinks);
  }

  sinksOf(source: string): readonly Sink[] {
    return this.routes.get(source) ?? [];
  }

  /**
   * Batches bound for any of `sinks` wait (and so do their sources) until rewire(): the sinks can
   * deliver what they hold and stop, and take nothing more.
   */
  hold(sinks: Iterable<Sink>): void {
    for (const sink of sinks) this.held.add(sink);
    this.holding ??= Promise.withResolvers<void>();
  }

  /** From the next batch on, the wiring of `sinks` (each reads its `sources`); held batches go on. */
  rewire(sinks: readonly Sink[]): void {
    const routes = new Map<string, Sink[]>();
    for (const sink of sinks) {
      for (const source of sink.sources) {
        const list = routes.get(source) ?? [];
        list.push(sink);
        routes.set(source, list);
      }
    }
    this.routes = routes;
    this.held.clear();
    this.holding?.resolve();
    this.holding = undefined;
  }

  /**
   * The largest batch every sink of `source` delivers in one go (events, bytes): a source batch no
   * larger is acknowledged as soon as one delivery of each sink holds it, so its position moves
   * (and a crash re-sends) a delivery at a time.
   */
  batchLimits(source: string): { events: number; bytes: number } {
    let events = Number.POSITIVE_INFINITY;
    let bytes = Number.POSITIVE_INFINITY;
    for (const sink of this.sinksOf(source)) {
      events = Math.min(events, sink.batchLimits.size);
      bytes = Math.min(bytes, sink.batchLimits.bytes);
    }
    return { events, bytes };
  }

  /** Hands `batch` to its sinks; resolves once they all have buffer room for more (backpressure). */
  async dispatch(batch: SourceBatch, onDelivered: Ack): Promise<void> {
    this.metrics?.countTables(batch);
    let sinks = this.sinksOf(batch.source);
    while (this.holding !== undefined && sinks.some((sink) => this.held.has(sink))) {
      await this.holding.promise;
      sinks = this.sinksOf(batch.source);
    }
    if (sinks.length === 0 || batch.events.length === 0) {
      onDelivered();
      return;
    }
    const ack = countdown(sinks.length, onDelivered);
    for (const sink of sinks) sink.accept(batch, ack);
    for (const sink of sinks) await sink.capacity();
  }
}

/**
 * An acknowledgement that calls `done` at the `count`th call: one per sink. Returned unnamed: the
 * bundle names a closure bound to a const at every call, which cost 5 to 7 µs (docs/performance.md,
 * "Names").
 */
function countdown(count: number, done: Ack): Ack {
  return () => {
    if (--count === 0) done();
  };
}
