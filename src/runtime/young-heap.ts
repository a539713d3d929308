import type { PerformanceObserver } from 'node:perf_hooks';
import v8 from 'node:v8';
import { observeCollections, v8FlagValue } from './heap-settings.js';

/**
 * Holds V8's young generation (its two semi-spaces) at `young_heap_limit`. V8 starts it at 1 MB
 * and doubles it as objects survive, up to the launchers' `--max-semi-space-size=16` (32 MB), which
 * the PostgreSQL path needs: its events are objects, and with less room they outlive young
 * collections and pile up in the old generation (docs/performance.md, Memory). A relay holds its
 * events as the bytes it read and allocates little heap, so a young generation of 32 MB there is
 * mostly garbage waiting, and the Buffers that garbage still points at wait with it: at 16 MB
 * make bench's relays peaked at 119 to 129 MB against 140 to 152, at the same CPU per message
 * within the machine's spread (two pairs; docs/performance.md, The relay).
 *
 * V8 fixes the maximum as it starts; what it reads at each growth is the factor it grows by
 * (`--semi-space-growth-factor`), so the limit is kept by setting that factor to 1 once a further
 * doubling would pass it.
 */

/** `young_heap_limit = "auto"` where no PostgreSQL source runs. */
export const AUTO_YOUNG_HEAP_LIMIT = 16 * 1024 * 1024;

/** The limit for `setting` (0: none, V8 grows it to its maximum). "auto" depends on the sources. */
export function youngHeapLimit(setting: number | 'auto', sourceTypes: readonly string[]): number {
  if (setting !== 'auto') return setting;
  return sourceTypes.includes('postgres') ? 0 : AUTO_YOUNG_HEAP_LIMIT;
}

export interface YoungHeapProbe {
  /** Bytes V8's young generation has (both semi-spaces). */
  youngBytes(): number;
  /** The factor V8 grows it by from now on. */
  setGrowthFactor(factor: number): void;
}

export const processYoungHeap = (): YoungHeapProbe => ({
  youngBytes: () =>
    v8.getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.space_size ?? 0,
  setGrowthFactor: (factor) => v8.setFlagsFromString(`--semi-space-growth-factor=${factor}`),
});

/** V8's growth factor: the operator's (PGRELAY_NODE_FLAGS), else V8's default. */
export function ownGrowthFactor(execArgv: readonly string[]): number {
  const factor = Number(v8FlagValue(execArgv, 'semi-space-growth-factor'));
  return Number.isInteger(factor) && factor >= 1 ? factor : 2;
}

export class YoungHeapLimit {
  private limit = 0;
  private factor: number;
  private observer: PerformanceObserver | undefined;

  constructor(
    private readonly probe: YoungHeapProbe,
    private readonly growthFactor = ownGrowthFactor(process.execArgv),
  ) {
    this.factor = growthFactor;
  }

  /** Lets the young generation grow to `bytes` at most (0: no limit). It does not shrink it. */
  set(bytes: number): void {
    this.limit = bytes;
    this.afterYoungCollection();
    if (this.limit > 0) this.observer ??= observeCollections({ young: () => this.afterYoungCollection() });
    else this.stop();
  }

  /** V8 grows the young generation at a young collection: whether it may, the next time. */
  afterYoungCollection(): void {
    const grown = this.probe.youngBytes() * this.growthFactor;
    const factor = this.limit === 0 || grown <= this.limit ? this.growthFactor : 1;
    if (factor === this.factor) return;
    this.factor = factor;
    this.probe.setGrowthFactor(factor);
  }

  stop(): void {
    this.observer?.disconnect();
    this.observer = undefined;
  }
}
