import { Watermark } from '../../../core/watermark.js';
import { StateError } from '../../../state/store.js';
import type { TableProgress } from './progress.js';
import type { ChunkCursor, SnapshotStore } from './store.js';

/** A chunk handed out: where the table continues after it, and the rows read up to its end. */
export interface ChunkMark {
  cursor: ChunkCursor;
  rows: number;
  last: boolean;
}

/**
 * The bookkeeping snapshots and backfills share: chunks are handed out in order and acknowledged in
 * any order; once a chunk and every one before it is acknowledged, the cursor after it is stored
 * (so a restart continues there) and the progress moves; the last chunk finishes the table.
 */
export class ChunkLedger {
  private readonly watermark: Watermark<ChunkMark>;

  constructor(
    private readonly snapshots: SnapshotStore,
    private readonly run: string,
    private readonly table: string,
    private readonly progress: TableProgress,
    /** Every row of the table is acknowledged. */
    private readonly onFinished: (rows: number) => void,
  ) {
    this.watermark = new Watermark<ChunkMark>(undefined, (mark) => this.acknowledged(mark));
  }

  /** Registers the next chunk; returns its acknowledgement (call it once every sink holds the rows). */
  track(mark: ChunkMark): () => void {
    const ticket = this.watermark.track(mark);
    return () => this.watermark.ack(ticket);
  }

  private acknowledged(mark: ChunkMark): void {
    this.progress.rowsDone = mark.rows;
    this.save(mark);
    if (!mark.last) return;
    this.progress.finish('done');
    this.onFinished(mark.rows);
  }

  /**
   * Stores where the table continues. When the state file cannot be written (the store reports it,
   * and so the source), the cursor stored earlier stays: a later write stores a later one, and a
   * restart meanwhile reads the chunks after it again.
   */
  private save(mark: ChunkMark): void {
    try {
      if (mark.last) this.snapshots.finishTable(this.run, this.table, mark.rows);
      else this.snapshots.saveChunk(this.run, this.table, mark.cursor, mark.rows);
    } catch (error) {
      if (!(error instanceof StateError)) throw error;
    }
  }
}
