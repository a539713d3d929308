import type { Logger } from 'pino';
import type { Ack, SourceBatch } from './batch.js';
import { Component, type KeyToFixOf } from './component.js';
import { errorMessage } from './errors.js';
import type { RelayEvent } from './event.js';
import { type SinkRecord, HandlerError } from './handler.js';
import type { HandlerChain } from './handler-chain.js';
import type { Metrics } from './metrics.js';
import type { Supervisor } from './supervisor.js';
import { Waiters, whenAborted } from './waiters.js';

export interface BatchLimits {
  /** Most events per delivered batch. */
  size: number;
  /** Most bytes per delivered batch (approximate, from the sources' sizes). */
  bytes: number;
  /** How long a partial batch waits for more events. */
  lingerMs: number;
}

export interface SinkSettings {
  batch: BatchLimits;
  /** Bytes a sink buffers before its sources wait (backpressure). */
  bufferBytes: number;
  retry: { initialMs: number; maxMs: number };
}

export interface SinkContext {
  log: Logger;
  logLevel: string;
  metrics: Metrics;
  chain: HandlerChain;
  /** Names the config key behind a failure, for its message. */
  keyToFix?: KeyToFixOf;
}

/** A source batch waiting in a sink, with how far the sink got through it. */
interface Pending {
  readonly batch: SourceBatch;
  readonly ack: Ack;
  readonly acceptedAt: number;
  taken: number;
  delivered: number;
}

/** Events taken for one delivery, and which pending source batches they came from. */
interface Delivery {
  events: RelayEvent[];
  segments: { pending: Pending; count: number }[];
}

/**
 * The machinery every sink kind shares: a bounded buffer the router fills, batching by size, bytes and
 * linger, the handler chain, delivery with retry and backoff, and acknowledgements in order. One batch
 * is in flight at a time, so a key's changes reach the destination in order, also across retries.
 * A kind implements open/write/close.
 */
export abstract class Sink extends Component {
  /** Batches not yet fully delivered, oldest first; an acknowledged batch leaves at once (memory). */
  private readonly queue: Pending[] = [];
  /** First pending batch with events not yet taken. */
  private cursor = 0;
  private queuedEvents = 0;
  private queuedBytes = 0;
  private bufferedBytes = 0;
  /** Events of the delivery in flight that still count against batch_size: those not held as bytes. */
  private countedInFlight = 0;
  private wakeLoop: (() => void) | undefined;
  private readonly capacityWaiters = new Waiters();
  /** A release of the capacity waiters is due in the next turn of the event loop (releaseSoon). */
  private releaseDue = false;
  private stopping = false;
  private readonly abort = new AbortController();
  /** Retries opening, writing and dead-lettering by the errors' codes, reporting to health. */
  private readonly lifecycle: Supervisor;
  private loop: Promise<void> | undefined;
  protected readonly metrics: Metrics;
  protected readonly chain: HandlerChain;

  protected constructor(
    name: string,
    type: string,
    readonly sources: readonly string[],
    protected readonly settings: SinkSettings,
    context: SinkContext,
  ) {
    super('sink', name, type, context.log, context.logLevel, context.keyToFix);
    this.metrics = context.metrics;
    this.chain = context.chain;
    this.lifecycle = this.supervisor({ ...settings.retry, signal: this.abort.signal });
  }

  /** Connects to the destination (retrying) and starts delivering. */
  protected abstract open(signal: AbortSignal): Promise<void>;
  /** Delivers records durably or throws; retriable errors are retried with backoff. Returns bytes sent. */
  protected abstract write(records: SinkRecord[], signal: AbortSignal): Promise<number>;
  protected abstract close(): Promise<void>;

  /**
   * A handler failed on `events`. A kind with a dead-letter destination writes them there durably
   * and returns true, and delivery goes on without them; false (the default) stops the sink, holding
   * every position behind it.
   */
  protected deadLetter(_events: RelayEvent[], _error: HandlerError): Promise<boolean> {
    return Promise.resolve(false);
  }

  /**
   * Whether a delivery takes only whole source batches. An exactly-once sink commits a delivery
   * with the offsets it completes, so no delivery may end in the middle of a batch.
   */
  protected get wholeBatches(): boolean {
    return false;
  }

  /** Runs one delivery (taking events, writing, acknowledging, `delivered`); an exactly-once sink runs it alone. */
  protected exclusively(delivery: () => Promise<void>): Promise<void> {
    return delivery();
  }

  /** After a delivery was acknowledged: an exactly-once sink commits its transaction here. */
  protected delivered(_signal: AbortSignal): Promise<void> {
    return Promise.resolve();
  }

  /** Drops the batches not yet delivered, without acknowledging them: their source sends them again. */
  protected discardQueued(): void {
    this.queue.length = 0;
    this.cursor = 0;
    this.queuedEvents = 0;
    this.queuedBytes = 0;
    this.bufferedBytes = 0;
    this.countedInFlight = 0;
    this.capacityWaiters.release();
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Most events and bytes one delivery takes: sources size their batches to fit. */
  get batchLimits(): BatchLimits {
    return this.settings.batch;
  }

  /** Queues a batch; `ack` runs once the sink delivered all of it. */
  accept(batch: SourceBatch, ack: Ack): void {
    this.queue.push({ batch, ack, acceptedAt: Date.now(), taken: 0, delivered: 0 });
    this.queuedEvents += batch.events.length;
    this.queuedBytes += batch.bytes;
    this.bufferedBytes += batch.bytes;
    this.stats.eventsIn += batch.events.length;
    this.wakeLoop?.();
  }

  /** Resolves when the buffer has room; the router awaits it after each batch (backpressure). */
  capacity(): Promise<void> | undefined {
    if (this.hasRoom()) return undefined;
    return this.capacityWaiters.wait(this.abort.signal);
  }

  /**
   * Room for another source batch: fewer bytes than `buffer`, and fewer events than one delivery
   * takes, counting those waiting and those in flight. Events that wait longer outlive V8's young
   * generation and are copied into the old one, which then needs full collections: small rows
   * filled the 2 MB buffer with ~5,000 events, and a 1M-row transaction made 17 full collections and
   * peaked at 170-180 MB RSS; capped, 3 and 147-153 MB, at the same CPU per row or less (measured,
   * scenario a). Events held as their bytes (SourceBatch.heldAsBytes) count only while they wait,
   * so the next delivery is ready when the one in flight is acknowledged: the relay's sources no
   * longer wait for every acknowledgement with the sink then waiting for them, and it took 8 to 35%
   * less time (medians of three series; docs/performance.md, The relay). A snapshot's events held
   * that long peaked 17 to 19 MB higher, for no gain.
   */
  private hasRoom(): boolean {
    return (
      this.bufferedBytes < this.settings.bufferBytes &&
      this.queuedEvents + this.countedInFlight < this.settings.batch.size
    );
  }

  /**
   * Lets waiting sources go on in the next turn of the event loop rather than at once: the sink's own
   * continuation (taking, encoding and sending the next delivery) runs first, so a request is in
   * flight while the sources make the one after it. Released at once, the sources ran first, each
   * through a batch, and nothing was in flight meanwhile (the relay, profiled: its produce requests
   * were in flight 44-54% of its time, 71-75% with this and the room for a delivery waiting).
   */
  private releaseSoon(): void {
    if (this.releaseDue) return;
    this.releaseDue = true;
    setImmediate(() => {
      this.releaseDue = false;
      if (this.hasRoom()) this.capacityWaiters.release();
    });
  }

  /**
   * Delivers what is buffered, then closes. When `deadline` aborts first, delivery stops where it is:
   * nothing unacknowledged is confirmed, so it is sent again after a restart.
   */
  async stop(deadline: AbortSignal): Promise<void> {
    this.stopping = true;
    const onDeadline = () => this.abort.abort(deadline.reason);
    if (deadline.aborted) onDeadline();
    else deadline.addEventListener('abort', onDeadline, { once: true });
    this.wakeLoop?.();
    try {
      // A write that ignores the abort (a hung destination) must not hold the stop past the deadline.
      await Promise.race([this.loop, whenAborted(this.abort.signal)]);
    } finally {
      deadline.removeEventListener('abort', onDeadline);
      this.capacityWaiters.release();
      await this.chain
        .close()
        .catch((error: unknown) => this.log.warn({ err: error }, 'closing handlers failed'));
      await this.close().catch((error: unknown) => this.log.warn({ err: error }, 'closing sink failed'));
      if (this.health.state !== 'failed') this.health.set('stopped');
    }
  }

  /**
   * After stop(): the batches this sink took and did not deliver (it failed, or the deadline cut
   * delivery short), oldest first, each with its acknowledgement, no longer this sink's: the sink
   * replacing it delivers them, or the caller gives them up by acknowledging them. What a batch had
   * delivered already is left out; a delivery cut short in the middle is in, so it is sent again.
   */
  takeUndelivered(): { batch: SourceBatch; ack: Ack }[] {
    const left = this.queue.splice(0).map(({ batch, ack, delivered }) => {
      if (delivered === 0) return { batch, ack };
      const remaining = batch.events.length - delivered;
      const bytes = Math.round((batch.bytes * remaining) / batch.events.length);
      return { batch: { ...batch, events: batch.events.slice(delivered), bytes }, ack };
    });
    this.cursor = 0;
    this.queuedEvents = 0;
    this.queuedBytes = 0;
    this.bufferedBytes = 0;
    this.countedInFlight = 0;
    return left;
  }

  /** Events buffered and not yet delivered. */
  get backlog(): number {
    let count = 0;
    for (let i = 0; i < this.queue.length; i++)
      count += this.queue[i]!.batch.events.length - this.queue[i]!.delivered;
    return count;
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    try {
      await this.lifecycle.attempt(() => this.open(signal));
      this.health.set('running');
      while (!signal.aborted) {
        if (this.queuedEvents === 0) {
          if (this.stopping) break;
          await this.nextWake();
          continue;
        }
        const wait = this.lingerLeft();
        if (wait > 0) {
          await this.nextWake(wait);
          continue;
        }
        await this.exclusively(async () => {
          // Another holder of the link may have discarded the queue meanwhile.
          if (this.queuedEvents > 0) await this.deliver(this.take(), signal);
        });
      }
    } catch (error) {
      if (!signal.aborted) this.fail(error);
    }
  }

  /** Resolves on the next accept() or stop(), or after `timeoutMs`; leaves no timer behind. */
  private nextWake(timeoutMs?: number): Promise<void> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      // Assigned to the field, not to a const: the bundle would name it at every call (5 to 7 µs,
      // docs/performance.md, "Names").
      this.wakeLoop = () => {
        this.wakeLoop = undefined;
        clearTimeout(timer);
        resolve();
      };
      if (timeoutMs !== undefined) timer = setTimeout(this.wakeLoop, timeoutMs);
    });
  }

  /** Milliseconds a partial batch should still wait for more events; 0 when it should go now. */
  private lingerLeft(): number {
    const { size, bytes, lingerMs } = this.settings.batch;
    if (this.stopping || lingerMs === 0 || this.queuedEvents >= size || this.queuedBytes >= bytes) return 0;
    return this.queue[this.cursor]!.acceptedAt + lingerMs - Date.now();
  }

  private take(): Delivery {
    const { size, bytes: byteLimit } = this.settings.batch;
    const delivery: Delivery = { events: [], segments: [] };
    let bytes = 0;
    while (this.cursor < this.queue.length && delivery.events.length < size && bytes < byteLimit) {
      const pending = this.queue[this.cursor]!;
      const { events, bytes: batchBytes } = pending.batch;
      const perEvent = batchBytes / Math.max(1, events.length);
      const fits = Math.floor((byteLimit - bytes) / Math.max(1, perEvent));
      let count = Math.min(events.length - pending.taken, size - delivery.events.length, fits);
      if (this.wholeBatches && count < events.length - pending.taken) {
        if (delivery.events.length > 0) break;
        count = events.length - pending.taken;
      }
      if (count === 0) {
        if (delivery.events.length > 0) break;
        // An oversized event goes alone, so it still moves (and fails loudly in write).
        count = 1;
      }
      for (let i = pending.taken; i < pending.taken + count; i++) delivery.events.push(events[i]!);
      delivery.segments.push({ pending, count });
      if (pending.batch.heldAsBytes !== true) this.countedInFlight += count;
      pending.taken += count;
      bytes += count * perEvent;
      if (pending.taken === events.length) this.cursor++;
    }
    this.queuedEvents -= delivery.events.length;
    this.queuedBytes = Math.max(0, this.queuedBytes - bytes);
    this.releaseSoon();
    return delivery;
  }

  private async deliver(delivery: Delivery, signal: AbortSignal): Promise<void> {
    const started = performance.now();
    const droppedBefore = this.stats.droppedTotal;
    const records = await this.runHandlers(delivery.events);
    if (records.length > 0) {
      const bytes = await this.lifecycle.attempt(() => this.write(records, signal));
      this.stats.bytes += bytes;
      if (this.debug)
        for (const record of records) this.log.debug({ record: describeRecord(record) }, 'delivered');
    }
    // Finished past the stop deadline: the source may have stored its position and closed, or the
    // batches went to the sink replacing this one; this delivery stays unacknowledged and is sent
    // again (after the restart, or by that sink).
    if (signal.aborted) return;
    if (this.health.state !== 'running') this.health.set('running');
    this.stats.batches++;
    this.stats.eventsOut += delivery.events.length - (this.stats.droppedTotal - droppedBefore);
    this.metrics.observeBatch(this, delivery.events.length, (performance.now() - started) / 1000);
    this.acknowledge(delivery);
    await this.delivered(signal);
  }

  /** The handler chain; events a handler fails on are dead-lettered (when the kind can) or stop the sink. */
  private async runHandlers(events: RelayEvent[]): Promise<SinkRecord[]> {
    const context = { sink: this.name, log: this.log };
    for (;;) {
      try {
        return await this.chain.run(events, context);
      } catch (error) {
        if (!(error instanceof HandlerError)) throw error;
        this.stats.errors++;
        this.log.error({ err: error }, `sink ${this.name}: ${errorMessage(error)}`);
        const failed = error.event === undefined ? events : [error.event];
        const handled = await this.lifecycle.attempt(() => this.deadLetter(failed, error));
        if (!handled) throw error;
        this.stats.drop('dead_letter', failed.length);
        const gone = new Set(failed);
        events = events.filter((event) => !gone.has(event));
      }
    }
  }

  private acknowledge(delivery: Delivery): void {
    const now = Date.now();
    for (const { pending, count } of delivery.segments) {
      pending.delivered += count;
      if (pending.batch.heldAsBytes !== true) this.countedInFlight -= count;
    }
    while (this.queue.length > 0) {
      const pending = this.queue[0]!;
      if (pending.delivered < pending.batch.events.length) break;
      this.queue.shift();
      this.cursor--;
      this.bufferedBytes -= pending.batch.bytes;
      this.metrics.observeLatency(this, Math.max(0, now - pending.batch.originTimeMs) / 1000);
      pending.ack();
    }
    this.releaseSoon();
  }
}

function describeRecord(record: SinkRecord): Record<string, unknown> {
  const text = (v: Buffer | string | null | undefined) => (Buffer.isBuffer(v) ? v.toString('utf8') : v);
  return { topic: record.topic, key: text(record.key), value: text(record.value) };
}
