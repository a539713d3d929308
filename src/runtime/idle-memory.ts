import v8 from 'node:v8';
import type { Logger } from 'pino';
import { fullCollection } from './heap-settings.js';

/**
 * Gives memory back once pgrelay has gone quiet. V8 sizes its heap to the allocation rate of the
 * last burst (a 1M-row snapshot leaves ~210 MB committed) and, with no allocation afterwards, never
 * collects again to shrink it: measured, RSS stayed at the peak for as long as pgrelay stayed idle.
 * One full collection that may shrink every space (V8's "last resort" one) brought it back to
 * ~99 MB, and to ~86 MB after start-up. It needs V8's `gc()`, which pgrelay exposes (heap-settings).
 */

/** Heap growth since the last release below which a release would give back too little to bother. */
export const RELEASE_GROWTH_BYTES = 8 * 1024 * 1024;

export interface MemoryRelease {
  at: string;
  rss_before: number;
  rss_after: number;
  heap_before: number;
  heap_after: number;
  duration_ms: number;
}

export interface IdleMemoryProbe {
  /** A number that changes whenever events move (the sum of every component's events in). */
  activity(): number;
  /** Bytes the V8 heap holds committed. */
  heapSize(): number;
  rss(): number;
  /** The full collection; undefined when V8 would not expose its `gc()`. */
  collect: (() => void) | undefined;
}

export const processProbe = (activity: () => number): IdleMemoryProbe => ({
  activity,
  heapSize: () => v8.getHeapStatistics().total_heap_size,
  rss: () => process.memoryUsage.rss(),
  collect: fullCollection('last-resort'),
});

export class IdleMemory {
  private timer: NodeJS.Timeout | undefined;
  /** Activity seen at the last check; a release waits for one whole interval without change. */
  private seen: number | undefined;
  private heapAfterRelease = 0;
  private warned = false;
  releases = 0;
  last: MemoryRelease | null = null;

  constructor(
    private readonly probe: IdleMemoryProbe,
    private readonly log: Logger,
  ) {}

  /** Checks every `interval` ms (undefined: never); a new interval replaces the old one. */
  schedule(interval: number | undefined): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.seen = undefined;
    if (interval === undefined || interval <= 0) return;
    if (this.probe.collect === undefined) {
      if (!this.warned) {
        this.log.warn(
          { key: 'release_memory_when_idle' },
          "release_memory_when_idle: V8 would not expose gc() (node's --expose-gc), " +
            'so memory held after a burst is not given back while idle',
        );
      }
      this.warned = true;
      return;
    }
    this.timer = setInterval(() => this.check(), interval);
    this.timer.unref();
  }

  /** One check: releases when no event moved since the previous check and the heap grew since the last release. */
  check(): MemoryRelease | undefined {
    const activity = this.probe.activity();
    const idle = activity === this.seen;
    this.seen = activity;
    const collect = this.probe.collect;
    if (!idle || collect === undefined) return undefined;
    const heapBefore = this.probe.heapSize();
    if (heapBefore < this.heapAfterRelease + RELEASE_GROWTH_BYTES) return undefined;
    const rssBefore = this.probe.rss();
    const started = performance.now();
    collect();
    const release: MemoryRelease = {
      at: new Date().toISOString(),
      rss_before: rssBefore,
      rss_after: this.probe.rss(),
      heap_before: heapBefore,
      heap_after: this.probe.heapSize(),
      duration_ms: Math.round((performance.now() - started) * 10) / 10,
    };
    this.heapAfterRelease = release.heap_after;
    this.releases += 1;
    this.last = release;
    this.log.info(
      { memory: release },
      `idle: released memory, RSS ${mb(release.rss_before)} → ${mb(release.rss_after)} MB, ` +
        `heap ${mb(release.heap_before)} → ${mb(release.heap_after)} MB (${release.duration_ms} ms)`,
    );
    return release;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

function mb(bytes: number): string {
  return (bytes / 1048576).toFixed(0);
}
