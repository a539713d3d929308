import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Component } from './component.js';

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];
const SIZE_BUCKETS = [1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

/**
 * pgrelay's Prometheus metrics. Counters are read from each component's Stats when scraped, so the hot
 * path only bumps plain numbers; histograms are observed per batch.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly components: Component[] = [];
  private readonly batchDuration: Histogram<'sink' | 'type'>;
  private readonly batchSize: Histogram<'sink' | 'type'>;
  private readonly latency: Histogram<'sink' | 'type'>;

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    // prom-client names three gauges *_total, a suffix Prometheus reserves for counters (promtool
    // rejects them); their per-type twins (nodejs_active_handles{type}...) carry the same numbers.
    for (const name of ['handles', 'requests', 'resources']) {
      this.registry.removeSingleMetric(`nodejs_active_${name}_total`);
    }
    const components = this.components;
    const labels = ['component', 'role', 'type'] as const;
    const counter = (name: string, help: string, read: (c: Component) => number) =>
      new Counter({
        name,
        help,
        labelNames: labels,
        registers: [this.registry],
        collect() {
          this.reset();
          for (const c of components) this.inc({ component: c.name, role: c.role, type: c.type }, read(c));
        },
      });
    counter('pgrelay_events_in_total', 'Events a component received.', (c) => c.stats.eventsIn);
    counter('pgrelay_events_out_total', 'Events a component delivered.', (c) => c.stats.eventsOut);
    counter('pgrelay_batches_total', 'Batches a component delivered.', (c) => c.stats.batches);
    counter('pgrelay_errors_total', 'Errors a component met (each retry counts).', (c) => c.stats.errors);
    counter('pgrelay_bytes_total', 'Payload bytes a component delivered.', (c) => c.stats.bytes);
    new Counter({
      name: 'pgrelay_events_dropped_total',
      help: 'Events deliberately not delivered, by reason (unmapped table, filtered, dead-lettered).',
      labelNames: [...labels, 'reason'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const c of components) {
          for (const [reason, count] of Object.entries(c.stats.dropped)) {
            this.inc({ component: c.name, role: c.role, type: c.type, reason }, count);
          }
        }
      },
    });
    new Gauge({
      name: 'pgrelay_component_up',
      help: '1 while a component is running, 0 while starting, retrying, failed or stopped.',
      labelNames: [...labels, 'state'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const c of components) {
          this.set(
            { component: c.name, role: c.role, type: c.type, state: c.health.state },
            c.health.healthy ? 1 : 0,
          );
        }
      },
    });
    const lagGauge = (name: string, help: string, read: (c: Component) => number | undefined) =>
      new Gauge({
        name,
        help,
        labelNames: ['source', 'type'],
        registers: [this.registry],
        collect() {
          this.reset();
          for (const c of components) {
            const value = c.role === 'source' ? read(c) : undefined;
            if (value !== undefined) this.set({ source: c.name, type: c.type }, value);
          }
        },
      });
    lagGauge(
      'pgrelay_source_lag_bytes',
      'PostgreSQL WAL between the server end and the delivered position.',
      (c) => c.health.lag?.bytes,
    );
    lagGauge(
      'pgrelay_source_lag_seconds',
      'Age of the oldest change not yet delivered.',
      (c) => c.health.lag?.seconds,
    );
    lagGauge(
      'pgrelay_source_lag_messages',
      'Kafka messages between committed offsets and partition ends.',
      (c) => c.health.lag?.messages,
    );

    this.batchDuration = new Histogram({
      name: 'pgrelay_sink_batch_duration_seconds',
      help: 'Time a sink took to deliver one batch, retries included.',
      labelNames: ['sink', 'type'],
      buckets: DURATION_BUCKETS,
      registers: [this.registry],
    });
    this.batchSize = new Histogram({
      name: 'pgrelay_sink_batch_events',
      help: 'Events per delivered sink batch.',
      labelNames: ['sink', 'type'],
      buckets: SIZE_BUCKETS,
      registers: [this.registry],
    });
    this.latency = new Histogram({
      name: 'pgrelay_end_to_end_latency_seconds',
      help: 'From commit (PostgreSQL) or produce time (Kafka) to delivery by the sink.',
      labelNames: ['sink', 'type'],
      buckets: LATENCY_BUCKETS,
      registers: [this.registry],
    });
  }

  register(component: Component): void {
    this.components.push(component);
  }

  observeBatch(sink: Component, events: number, seconds: number): void {
    const labels = { sink: sink.name, type: sink.type };
    this.batchSize.observe(labels, events);
    this.batchDuration.observe(labels, seconds);
  }

  observeLatency(sink: Component, seconds: number): void {
    this.latency.observe({ sink: sink.name, type: sink.type }, seconds);
  }

  /** Extra metrics a component kind defines (snapshot progress...), on the same registry. */
  gauge<L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    collect: (set: (labels: Record<L, string>, value: number) => void) => void,
  ): void {
    new Gauge({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        this.reset();
        collect((labels, value) => this.set(labels, value));
      },
    });
  }
}
