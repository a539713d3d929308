import type { PerformanceObserver } from 'node:perf_hooks';
import v8 from 'node:v8';
import type { Logger } from 'pino';
import { observeCollections, v8FlagValue } from './heap-settings.js';

/**
 * Holds V8's young generation (its two semi-spaces) at `young_heap_limit`. V8 starts it at 1 MB and
 * doubles it as objects survive, up to the launchers' `--max-semi-space-size=16` (32 MB). What
 * fills it between two young collections is mostly garbage, and the Buffers that garbage points at
 * wait with it; what survives is the events in flight, which 16 MB still holds. At 16 MB every make
 * bench scenario peaked 8 to 29 MB lower (four pairs on the PostgreSQL path, two on the relays)
 * at the same CPU per row within the machine's spread; at 8 MB no lower than at 16
 * (docs/performance.md, The young generation).
 *
 * V8 fixes the maximum as it starts; what it reads at each growth is the factor it grows by
 * (`--semi-space-growth-factor`), so the limit is kept by setting that factor to 1 once a further
 * doubling would pass it.
 */

const MB = 1024 * 1024;

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
export function growthFactorFrom(execArgv: readonly string[]): number {
  const factor = Number(v8FlagValue(execArgv, 'semi-space-growth-factor'));
  return Number.isInteger(factor) && factor >= 1 ? factor : 2;
}

export class YoungHeapLimit {
  private limit = 0;
  private factor: number;
  /** The young generation's size when its growth was stopped. */
  private stoppedAt = 0;
  private observer: PerformanceObserver | undefined;
  private warned = false;

  constructor(
    private readonly probe: YoungHeapProbe,
    private readonly log: Logger,
    private readonly growthFactor = growthFactorFrom(process.execArgv),
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
    const size = this.probe.youngBytes();
    const factor = this.limit === 0 || size * this.growthFactor <= this.limit ? this.growthFactor : 1;
    if (factor !== this.factor) {
      this.factor = factor;
      this.stoppedAt = size;
      this.probe.setGrowthFactor(factor);
    } else if (factor === 1 && size >= 2 * this.stoppedAt) this.ignored(size);
  }

  /**
   * It doubled although stopped: this V8 does not read the factor as it grows, or more young
   * objects are live than the limit holds (V8 then holds pages beyond it: 8 to 12 MB with a limit
   * of 4 while 5 MB were live; with 16, at most 20.75 MB while it grew).
   */
  private ignored(size: number): void {
    if (this.warned) return;
    this.warned = true;
    this.log.warn(
      { key: 'young_heap_limit', young_bytes: size, limit_bytes: this.limit },
      `young_heap_limit: V8's young generation grew to ${size / MB} MB, past the limit of ${this.limit / MB} MB: ` +
        'more young objects are live than that holds, or this V8 ignores --semi-space-growth-factor ' +
        "(node's --max-semi-space-size, in PGRELAY_NODE_FLAGS, sets its maximum instead)",
    );
  }

  stop(): void {
    this.observer?.disconnect();
    this.observer = undefined;
  }
}
