import { Watermark } from '../../core/watermark.js';

export interface CommitOffset {
  topic: string;
  partition: number;
  /** The next offset to read: everything before it is delivered. */
  offset: string;
}

/** Offsets taken for one commit request; report how it went so failed ones are committed later. */
export interface PendingCommit {
  readonly offsets: CommitOffset[];
  succeeded(): void;
  failed(): void;
}

export interface PartitionReport {
  committed: string;
  delivered: string;
  high_watermark: string;
  in_flight: number;
}

/**
 * One assigned partition in one group generation. `delivered` is the watermark over the batches
 * handed out (every sink acknowledged everything before it); `committed` is what Kafka holds.
 */
export class PartitionProgress {
  readonly key: string;
  committed: bigint;
  delivered: bigint;
  highWatermark: bigint;
  private readonly watermark: Watermark<bigint>;

  constructor(
    readonly topic: string,
    readonly partition: number,
    /** Where fetching started: the group's committed offset (or the reset offset for a new group). */
    start: bigint,
    onAdvance: (progress: PartitionProgress) => void,
  ) {
    this.key = `${topic}/${partition}`;
    this.committed = start;
    this.delivered = start;
    this.highWatermark = start;
    this.watermark = new Watermark<bigint>(start, (position) => {
      this.delivered = position;
      onAdvance(this);
    });
  }

  /** Registers work handed out in order; `next` is the offset after it. Returns its acknowledgement. */
  track(next: bigint): () => void {
    const ticket = this.watermark.track(next);
    return () => this.watermark.ack(ticket);
  }

  get inFlight(): number {
    return this.watermark.inFlight;
  }

  /** Messages between the committed offset and the partition's end, as of the last fetch. */
  get lag(): bigint {
    return this.highWatermark > this.committed ? this.highWatermark - this.committed : 0n;
  }
}

/**
 * The Kafka source's positions: a watermark per assigned partition, and the offsets ready to commit.
 * A rebalance starts a new generation: progress of the old one is dropped, so acknowledgements
 * that arrive late for a partition (revoked, or fetched again from its committed offset) can never
 * commit past messages of the new generation that are still in flight.
 */
export class PartitionOffsets {
  private readonly partitions = new Map<string, PartitionProgress>();
  private readonly ready = new Set<PartitionProgress>();

  /** `onReady` runs when a partition's delivered offset moved: a commit is due. */
  constructor(private readonly onReady: () => void) {}

  /** The progress of a partition in this generation, created at `start` on its first batch. */
  partition(topic: string, partition: number, start: bigint): PartitionProgress {
    const key = `${topic}/${partition}`;
    let progress = this.partitions.get(key);
    if (progress === undefined) {
      progress = new PartitionProgress(topic, partition, start, (p) => this.advanced(p));
      this.partitions.set(key, progress);
    }
    return progress;
  }

  /** The group was (re)joined: what the previous generation had in flight no longer counts. */
  newGeneration(): void {
    this.partitions.clear();
    this.ready.clear();
  }

  private advanced(progress: PartitionProgress): void {
    if (this.partitions.get(progress.key) !== progress) return;
    if (progress.delivered <= progress.committed) return;
    this.ready.add(progress);
    this.onReady();
  }

  /** Offsets to commit now, or undefined when nothing moved since the last commit. */
  take(): PendingCommit | undefined {
    if (this.ready.size === 0) return undefined;
    const entries = [...this.ready].map((progress) => ({ progress, offset: progress.delivered }));
    this.ready.clear();
    return {
      offsets: entries.map(({ progress, offset }) => ({
        topic: progress.topic,
        partition: progress.partition,
        offset: offset.toString(),
      })),
      succeeded: () => {
        for (const { progress, offset } of entries) {
          if (offset > progress.committed) progress.committed = offset;
        }
      },
      failed: () => {
        for (const { progress } of entries) {
          if (this.partitions.get(progress.key) === progress) this.ready.add(progress);
        }
      },
    };
  }

  /** Batches and dead letters of this generation not yet acknowledged. */
  get inFlight(): number {
    let count = 0;
    for (const progress of this.partitions.values()) count += progress.inFlight;
    return count;
  }

  get lag(): number {
    let lag = 0n;
    for (const progress of this.partitions.values()) lag += progress.lag;
    return Number(lag);
  }

  report(): Record<string, PartitionReport> {
    const report: Record<string, PartitionReport> = {};
    const sorted = [...this.partitions.values()].sort(
      (a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition,
    );
    for (const p of sorted) {
      report[p.key] = {
        committed: p.committed.toString(),
        delivered: p.delivered.toString(),
        high_watermark: p.highWatermark.toString(),
        in_flight: p.inFlight,
      };
    }
    return report;
  }
}
