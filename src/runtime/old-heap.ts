import type { PerformanceObserver } from 'node:perf_hooks';
import v8 from 'node:v8';
import type { Logger } from 'pino';
import { fullCollection, observeCollections } from './heap-settings.js';

/**
 * Keeps V8's old generation near what it holds live while events stream. Events in flight that
 * outlive a young collection are copied into the old generation (a 1M-row transaction: about 180 KB
 * at each of its ~150 young collections), where only a full collection frees them, and V8 starts one
 * when the old generation has doubled (heap-settings): its pages then count in RSS at each peak.
 * A full collection once it grew by `old_heap_growth` (or by a quarter of what the last one left, when
 * that is more, so a large live heap is not marked over and over) held scenario a's peaks at 131 to
 * 148 MB against 140 to 154, at the same CPU per row within the machine's spread (docs/performance.md,
 * "The old generation").
 */

/** `old_heap_growth = "auto"` where a PostgreSQL source runs. */
export const AUTO_OLD_HEAP_GROWTH = 8 * 1024 * 1024;

/**
 * The growth that starts a collection (0: V8 decides). "auto" is 0 with Kafka sources alone: a
 * full collection also moves into the old generation what is in flight, and a relay's fetched
 * Buffers then wait for the next one (make bench, 2 pairs: the relay that checks events peaked at
 * 148 / 151 MB with 8 MB against 142 / 142, at 0.6 to 1.7 µs more per message). A relay holds its
 * events as their bytes; a PostgreSQL source's are objects, and they are what piles up.
 */
export function oldHeapGrowth(setting: number | 'auto', sourceTypes: readonly string[]): number {
  if (setting !== 'auto') return setting;
  return sourceTypes.includes('postgres') ? AUTO_OLD_HEAP_GROWTH : 0;
}

export interface OldHeapProbe {
  /** Bytes the old generation's objects take. */
  oldBytes(): number;
  /** A full collection; undefined when V8 would not expose its `gc()`. */
  collect: (() => void) | undefined;
}

export const processOldHeap = (): OldHeapProbe => ({
  oldBytes: () => {
    let bytes = 0;
    for (const space of v8.getHeapSpaceStatistics())
      if (space.space_name === 'old_space' || space.space_name === 'large_object_space')
        bytes += space.space_used_size;
    return bytes;
  },
  collect: fullCollection('regular'),
});

export class OldHeapGrowth {
  private step = 0;
  /** What the last full collection left. */
  private base: number;
  private due = false;
  private observer: PerformanceObserver | undefined;
  private warned = false;
  collections = 0;

  constructor(
    private readonly probe: OldHeapProbe,
    private readonly log: Logger,
  ) {
    this.base = probe.oldBytes();
  }

  /** Collects once the old generation grew by `step` bytes (0: never, V8 decides). */
  schedule(step: number): void {
    this.step = step;
    if (this.step > 0 && this.probe.collect === undefined) {
      if (!this.warned)
        this.log.warn(
          { key: 'old_heap_growth' },
          "old_heap_growth: V8 would not expose gc() (node's --expose-gc), so V8 alone decides when to collect the old generation",
        );
      this.warned = true;
      this.step = 0;
    }
    if (this.step > 0 && this.observer === undefined) {
      this.observer = observeCollections({
        young: () => this.afterYoungCollection(),
        full: () => this.afterFullCollection(),
      });
    } else if (this.step === 0) this.stop();
  }

  /** A full collection ran (V8's, or this one's): what it left is the new base. */
  afterFullCollection(): void {
    this.base = this.probe.oldBytes();
  }

  /** After a young collection: a full one, in the next turn of the event loop, once the old generation grew enough. */
  afterYoungCollection(): void {
    if (this.step === 0 || this.due) return;
    if (this.probe.oldBytes() < this.base + Math.max(this.step, this.base / 4)) return;
    this.due = true;
    setImmediate(() => {
      this.due = false;
      if (this.step === 0) return;
      this.probe.collect?.();
      this.collections += 1;
      this.afterFullCollection();
    });
  }

  stop(): void {
    this.observer?.disconnect();
    this.observer = undefined;
  }
}
