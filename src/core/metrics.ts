import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { SourceBatch } from './batch.js';
import type { Component, ComponentState } from './component.js';
import { isRaw, routingName } from './event.js';
import { VERSION } from './version.js';

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];
const SIZE_BUCKETS = [1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

const STATES: readonly ComponentState[] = ['starting', 'running', 'standby', 'retrying', 'failed', 'stopped'];

/** Every metric about one source or sink carries these labels, so queries join across them. */
const LABELS = ['component', 'role', 'type'] as const;
type ComponentLabels = Record<(typeof LABELS)[number], string>;

function labelsOf(c: Component): ComponentLabels {
  return { component: c.name, role: c.role, type: c.type };
}

/**
 * pgrelay's Prometheus metrics. Counters are read from each component's Stats when scraped, so the hot
 * path only bumps plain numbers; histograms are observed per batch.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly components: Component[] = [];
  /** Events each source handed to its sinks, per `schema.table`. */
  private readonly tableEvents = new Map<string, Map<string, number>>();
  private readonly batchDuration: Histogram<keyof ComponentLabels>;
  private readonly batchSize: Histogram<keyof ComponentLabels>;
  private readonly latency: Histogram<keyof ComponentLabels>;
  private readonly reloads: Counter<'result'>;
  private readonly lastReloadSuccessful: Gauge;
  private readonly lastReloadSuccess: Gauge;

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    // prom-client names three gauges *_total, a suffix Prometheus reserves for counters (promtool
    // rejects them); their per-type twins (nodejs_active_handles{type}...) carry the same numbers.
    for (const name of ['handles', 'requests', 'resources']) {
      this.registry.removeSingleMetric(`nodejs_active_${name}_total`);
    }
    const components = this.components;
    new Gauge({
      name: 'pgrelay_build_info',
      help: 'Always 1; the labels name the running pgrelay and Node.js versions.',
      labelNames: ['version', 'node'],
      registers: [this.registry],
    }).set({ version: VERSION, node: process.versions.node }, 1);
    const counter = (name: string, help: string, read: (c: Component) => number) =>
      new Counter({
        name,
        help,
        labelNames: LABELS,
        registers: [this.registry],
        collect() {
          this.reset();
          for (const c of components) this.inc(labelsOf(c), read(c));
        },
      });
    counter('pgrelay_events_in_total', 'Events a component received.', (c) => c.stats.eventsIn);
    counter(
      'pgrelay_events_out_total',
      'Events a source had acknowledged by every sink; events a sink delivered (dropped ones not included).',
      (c) => c.stats.eventsOut,
    );
    counter('pgrelay_batches_total', 'Batches a component delivered.', (c) => c.stats.batches);
    counter('pgrelay_errors_total', 'Errors a component met (each retry counts).', (c) => c.stats.errors);
    counter('pgrelay_bytes_total', 'Payload bytes a component delivered.', (c) => c.stats.bytes);
    new Counter({
      name: 'pgrelay_events_dropped_total',
      help: 'Events deliberately not delivered, by reason (unmapped table, filtered, dead-lettered).',
      labelNames: [...LABELS, 'reason'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const c of components) {
          for (const [reason, count] of Object.entries(c.stats.dropped)) {
            this.inc({ ...labelsOf(c), reason }, count);
          }
        }
      },
    });
    const tableEvents = this.tableEvents;
    new Counter({
      name: 'pgrelay_source_table_events_total',
      help: 'Change events a source handed to its sinks, per schema.table.',
      labelNames: [...LABELS, 'table'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const c of components) {
          if (c.role !== 'source') continue;
          for (const [table, count] of tableEvents.get(c.name) ?? [])
            this.inc({ ...labelsOf(c), table }, count);
        }
      },
    });
    new Gauge({
      name: 'pgrelay_component_up',
      help: '1 while a component is running, standing by, or stopped with its work done, else 0.',
      labelNames: LABELS,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const c of components) this.set(labelsOf(c), c.health.healthy ? 1 : 0);
      },
    });
    new Gauge({
      name: 'pgrelay_component_state',
      help: 'Per component and state, 1 for the state it is in, else 0: every state always has a series.',
      labelNames: [...LABELS, 'state'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const c of components) {
          for (const state of STATES) this.set({ ...labelsOf(c), state }, c.health.state === state ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: 'pgrelay_sink_missing_topics',
      help: "Topics a Kafka sink's config names that do not exist and that nothing creates on first write.",
      labelNames: LABELS,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const c of components) {
          const missing = c.health.details.missing_topics;
          if (c.role === 'sink' && c.type === 'kafka')
            this.set(labelsOf(c), Array.isArray(missing) ? missing.length : 0);
        }
      },
    });
    const lagGauge = (name: string, help: string, read: (c: Component) => number | undefined) =>
      new Gauge({
        name,
        help,
        labelNames: LABELS,
        registers: [this.registry],
        collect() {
          this.reset();
          for (const c of components) {
            const value = c.role === 'source' ? read(c) : undefined;
            if (value !== undefined) this.set(labelsOf(c), value);
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
      'pgrelay_source_retained_wal_bytes',
      "PostgreSQL WAL the replication slot makes the server keep (WAL end minus the slot's restart_lsn).",
      (c) => c.health.lag?.retained_wal_bytes,
    );
    lagGauge(
      'pgrelay_source_lag_messages',
      'Kafka messages between committed offsets and partition ends.',
      (c) => c.health.lag?.messages,
    );

    this.batchDuration = new Histogram({
      name: 'pgrelay_sink_batch_duration_seconds',
      help: 'Time a sink took to deliver one batch, retries included.',
      labelNames: LABELS,
      buckets: DURATION_BUCKETS,
      registers: [this.registry],
    });
    this.batchSize = new Histogram({
      name: 'pgrelay_sink_batch_events',
      help: 'Events per delivered sink batch.',
      labelNames: LABELS,
      buckets: SIZE_BUCKETS,
      registers: [this.registry],
    });
    this.latency = new Histogram({
      name: 'pgrelay_end_to_end_latency_seconds',
      help: 'From commit (PostgreSQL) or produce time (Kafka) to delivery by the sink.',
      labelNames: LABELS,
      buckets: LATENCY_BUCKETS,
      registers: [this.registry],
    });

    // Named as Prometheus names its own (prometheus_config_last_reload_successful...).
    this.reloads = new Counter({
      name: 'pgrelay_config_reloads_total',
      help: 'Config reloads (SIGHUP), by result: ok (applied) or failed (the running config kept).',
      labelNames: ['result'],
      registers: [this.registry],
    });
    for (const result of ['ok', 'failed']) this.reloads.inc({ result }, 0);
    this.lastReloadSuccessful = new Gauge({
      name: 'pgrelay_config_last_reload_successful',
      help: '1 when the last config reload (or the start) applied the config file, 0 when it was refused.',
      registers: [this.registry],
    });
    this.lastReloadSuccessful.set(1);
    this.lastReloadSuccess = new Gauge({
      name: 'pgrelay_config_last_reload_success_timestamp_seconds',
      help: 'When the config file was last applied (the start, or a reload), seconds since the epoch.',
      registers: [this.registry],
    });
    this.lastReloadSuccess.set(Date.now() / 1000);
  }

  register(component: Component): void {
    this.components.push(component);
  }

  /** `next` took `previous`'s place (a reload restarted it): its series go on under the same labels. */
  replace(previous: Component, next: Component): void {
    const index = this.components.indexOf(previous);
    if (index === -1) this.components.push(next);
    else this.components[index] = next;
  }

  /** A component removed by a reload: its series go. */
  remove(component: Component): void {
    const index = this.components.indexOf(component);
    if (index !== -1) this.components.splice(index, 1);
    if (component.role === 'source') this.tableEvents.delete(component.name);
    for (const histogram of [this.batchDuration, this.batchSize, this.latency])
      histogram.remove(labelsOf(component));
  }

  /** A config reload ended: applied (`ok`) or refused, the running config kept. */
  recordReload(ok: boolean, at: Date): void {
    this.reloads.inc({ result: ok ? 'ok' : 'failed' });
    this.lastReloadSuccessful.set(ok ? 1 : 0);
    if (ok) this.lastReloadSuccess.set(at.getTime() / 1000);
  }

  /** Counts a source's batch per table (raw messages have none), as the router hands it out. */
  countTables(batch: SourceBatch): void {
    let tables = this.tableEvents.get(batch.source);
    if (tables === undefined) this.tableEvents.set(batch.source, (tables = new Map<string, number>()));
    let schema: string | null = null;
    let table: string | null = null;
    let name = '';
    let run = 0;
    // Batches are mostly runs of one table: count a run, then add it, once per run.
    for (const event of batch.events) {
      if (isRaw(event)) continue;
      if (event.schema !== schema || event.table !== table) {
        if (run > 0) tables.set(name, (tables.get(name) ?? 0) + run);
        ({ schema, table } = event);
        name = routingName(event);
        run = 0;
      }
      run++;
    }
    if (run > 0) tables.set(name, (tables.get(name) ?? 0) + run);
  }

  observeBatch(sink: Component, events: number, seconds: number): void {
    const labels = labelsOf(sink);
    this.batchSize.observe(labels, events);
    this.batchDuration.observe(labels, seconds);
  }

  observeLatency(sink: Component, seconds: number): void {
    this.latency.observe(labelsOf(sink), seconds);
  }

  /** A counter without labels, read from `read` when scraped, on the same registry. */
  counter(name: string, help: string, read: () => number): void {
    new Counter({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
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
