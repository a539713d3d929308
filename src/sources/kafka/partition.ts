import type { FetchTarget, FetchedChunk } from './fetcher.js';
import type { PartitionProgress } from './offsets.js';

/**
 * A partition this member owns: where its fetching stands, the one chunk of records fetched and
 * not yet handed out, and its progress (what every sink acknowledged). Chunks are handed to
 * `relay` one after another, so a partition's messages reach the router in order while partitions
 * run side by side.
 */
export class AssignedPartition implements FetchTarget {
  fetchOffset: number;
  /** The next offset to hand out: records before it (a batch fetched from its middle) are skipped. */
  position: number;
  /** Aborted when the partition is given up (moved to another member) or the source stops. */
  private readonly controller = new AbortController();
  private queued: FetchedChunk | undefined;
  private running = false;
  /** Set while its offset is being looked up again after OFFSET_OUT_OF_RANGE. */
  resetting = false;

  constructor(
    readonly topic: string,
    readonly partition: number,
    public progress: PartitionProgress,
    private readonly relay: (partition: AssignedPartition, chunk: FetchedChunk) => Promise<void>,
    private readonly events: { wantsData(): void; outOfRange(partition: AssignedPartition): void },
  ) {
    this.fetchOffset = progress.delivered;
    this.position = progress.delivered;
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get givenUp(): boolean {
    return this.controller.signal.aborted;
  }

  get wantsData(): boolean {
    return !this.givenUp && !this.resetting && this.queued === undefined;
  }

  get highWatermark(): number {
    return this.progress.highWatermark;
  }

  set highWatermark(offset: number) {
    this.progress.highWatermark = offset;
  }

  receive(chunk: FetchedChunk): void {
    this.queued = chunk;
    if (!this.running) void this.run();
  }

  outOfRange(): void {
    this.events.outOfRange(this);
  }

  /** Moves fetching and handing out to `offset` (after OFFSET_OUT_OF_RANGE): nothing fetched before counts. */
  moveTo(offset: number): void {
    this.queued = undefined;
    this.fetchOffset = offset;
    this.position = offset;
  }

  /** Stops fetching and handing out; what was handed out stays in flight. */
  giveUp(): void {
    this.queued = undefined;
    this.controller.abort();
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      for (let chunk = this.queued; chunk !== undefined && !this.givenUp; chunk = this.queued) {
        this.queued = undefined;
        this.events.wantsData();
        await this.relay(this, chunk);
      }
    } finally {
      this.running = false;
    }
  }
}
