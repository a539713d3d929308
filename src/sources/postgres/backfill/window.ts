/**
 * The stream side of a backfill chunk (DBLog's watermarks, as in Debezium's incremental
 * snapshots): which rows of a chunk read while the stream runs may be emitted at the high
 * watermark's place in the stream without overtaking a newer change of the same key.
 */

/** Stands for every key: a truncate of the table. */
export const EVERY_KEY = '\u0000truncate';

/**
 * A transaction snapshot as pg_current_snapshot() prints it ("xmin:xmax:xip,..."): which
 * transactions a read saw. Transaction ids are 64-bit there and 32-bit in pgoutput, compared
 * modulo 2^32 as PostgreSQL compares them.
 */
export class XidSnapshot {
  private constructor(
    private readonly xmin: number,
    private readonly xmax: number,
    private readonly running: ReadonlySet<number>,
  ) {}

  static parse(text: string): XidSnapshot {
    const match = /^(\d+):(\d+):([\d,]*)$/.exec(text.trim());
    if (match === null) throw new Error(`"${text}" is not a transaction snapshot (xmin:xmax:xip,...)`);
    const xid = (digits: string) => Number(BigInt(digits) & 0xffffffffn);
    const running = match[3] === '' ? [] : match[3]!.split(',').map(xid);
    return new XidSnapshot(xid(match[1]!), xid(match[2]!), new Set(running));
  }

  /** Whether a read under this snapshot saw the (committed) transaction `xid`. */
  sees(xid: number): boolean {
    if (precedes(xid, this.xmin)) return true;
    return precedes(xid, this.xmax) && !this.running.has(xid);
  }
}

/** PostgreSQL's TransactionIdPrecedes: a before b on the 2^32 circle. */
function precedes(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

/**
 * Keys of one table changed in the stream while backfill chunks are read.
 *
 * A chunk row, read under snapshot S, is emitted when the stream reaches the chunk's high
 * watermark. It is stale if the stream carries, before that point, a change of its key the read did
 * not see. Two sets of keys are dropped from the chunk:
 *  - keys changed between the low and the high watermark (DBLog's window), and
 *  - keys changed, anywhere since the backfill began, by a transaction S does not see. This covers
 *    a transaction whose commit record precedes the low watermark but which was not yet visible
 *    when the chunk was read (commit is written to WAL before it becomes visible, and a synchronous
 *    standby can stretch that gap).
 * A dropped row loses nothing: the change that made it stale is in the stream, after the point the
 * row would have taken.
 */
export class ChunkWindow {
  /** Changes recorded by transaction; kept until a chunk's snapshot sees the transaction. */
  private recent: { xid: number; key: string }[] = [];
  /** Keys changed since the current chunk's low watermark; undefined outside a window. */
  private window: Set<string> | undefined;

  get open(): boolean {
    return this.window !== undefined;
  }

  /** The low watermark passed: keys changed from here on are dropped from the chunk. */
  openWindow(): void {
    this.window = new Set();
  }

  record(xid: number, key: string): void {
    this.recent.push({ xid, key });
    this.window?.add(key);
  }

  /** The high watermark passed: the keys to drop from a chunk read under `snapshot`. */
  close(snapshot: XidSnapshot): ReadonlySet<string> {
    const drop = this.window ?? new Set<string>();
    this.window = undefined;
    // A transaction this snapshot sees, every later snapshot sees: it can go.
    this.recent = this.recent.filter((change) => {
      if (snapshot.sees(change.xid)) return false;
      drop.add(change.key);
      return true;
    });
    return drop;
  }

  /** Forgets the window (the stream restarted; the chunk is read again under new watermarks). */
  abandon(): void {
    this.window = undefined;
  }
}
