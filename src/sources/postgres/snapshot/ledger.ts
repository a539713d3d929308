import { PgRelayError } from '../../../core/errors.js';
import { Watermark } from '../../../core/watermark.js';
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
 * any order; once a chunk and every one before it is acknowledged, the progress moves and the cursor
 * after it is stored (so a restart continues there); the last chunk finishes the table.
 *
 * Stores write one cursor at a time (the source database answers later): while one is written,
 * chunks acknowledged meanwhile wait, and the latest of them is written next. A stored cursor is
 * therefore always one whose rows every sink holds; a write that fails leaves the one before, from
 * which a restart reads some chunks again and skips none.
 */
export class ChunkLedger {
  private readonly watermark: Watermark<ChunkMark>;
  /** Acknowledged, not yet being written. */
  private unsaved: ChunkMark | undefined;
  private saving: Promise<void> | undefined;
  /** A write failed other than as stores fail (a bug): settled() throws it. */
  private failure: Error | undefined;

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

  /** Resolves once every acknowledged cursor is stored, or its write failed. */
  async settled(): Promise<void> {
    while (this.saving !== undefined) await this.saving;
    if (this.failure !== undefined) throw this.failure;
  }

  private acknowledged(mark: ChunkMark): void {
    this.progress.rowsDone = mark.rows;
    this.unsaved = mark;
    this.saving ??= this.save();
    if (!mark.last) return;
    this.progress.finish('done');
    this.onFinished(mark.rows);
  }

  /**
   * Stores where the table continues, until nothing acknowledged is left unstored. When a write
   * fails (the state file cannot be written, the store reports it, and so the source; or the slot's
   * lease is lost, and the session ends), the cursor stored earlier stays: a later write stores a
   * later one, and a restart meanwhile reads the chunks after it again.
   */
  private async save(): Promise<void> {
    while (this.unsaved !== undefined) {
      const mark = this.unsaved;
      this.unsaved = undefined;
      try {
        if (mark.last) await this.snapshots.finishTable(this.run, this.table, mark.rows);
        else await this.snapshots.saveChunk(this.run, this.table, mark.cursor, mark.rows);
      } catch (error) {
        if (!(error instanceof PgRelayError)) this.failure ??= error as Error;
      }
    }
    this.saving = undefined;
  }
}
