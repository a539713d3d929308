/**
 * Tracks work handed out in order and completed in any order; the watermark is the position of the
 * latest ticket such that it and every ticket before it are done. This is the delivery model: a
 * source position moves only when everything before it is acknowledged.
 */
export class Watermark<P> {
  /** Pending tickets, oldest first; `done` flips when acknowledged out of order. */
  private readonly pending: {
    readonly id: number;
    readonly position: P | undefined;
    readonly originMs: number;
    done: boolean;
  }[] = [];
  private head = 0;
  private nextId = 0;
  private committed: P | undefined;

  constructor(
    initial?: P,
    private readonly onAdvance?: (position: P) => void,
  ) {
    this.committed = initial;
  }

  /**
   * Registers the next unit of work. `position` is where the source may resume once this ticket and
   * all earlier ones are done; undefined for work that completes no resumable unit (the middle of a
   * transaction). `originMs`: when the work's oldest change happened (commit or produce time), for lag.
   */
  track(position?: P, originMs = 0): number {
    const id = this.nextId++;
    this.pending.push({ id, position, originMs, done: false });
    return id;
  }

  ack(ticket: number): void {
    const index = this.head + (ticket - (this.pending[this.head]?.id ?? ticket));
    const entry = this.pending[index];
    if (entry === undefined || entry.id !== ticket) throw new Error(`watermark: unknown ticket ${ticket}`);
    if (entry.done) throw new Error(`watermark: ticket ${ticket} acknowledged twice`);
    entry.done = true;
    if (index !== this.head) return;

    let advanced: P | undefined;
    while (this.head < this.pending.length && this.pending[this.head]!.done) {
      const position = this.pending[this.head]!.position;
      if (position !== undefined) advanced = position;
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.pending.length) {
      this.pending.splice(0, this.head);
      this.head = 0;
    }
    if (advanced !== undefined) {
      this.committed = advanced;
      this.onAdvance?.(advanced);
    }
  }

  /** The resume position: everything up to it is acknowledged. */
  get position(): P | undefined {
    return this.committed;
  }

  /** The origin time of the oldest work not yet acknowledged (0 when none gave one); undefined when idle. */
  get oldestOrigin(): number | undefined {
    for (let i = this.head; i < this.pending.length; i++) {
      const entry = this.pending[i]!;
      if (!entry.done) return entry.originMs;
    }
    return undefined;
  }

  /** Tickets handed out and not yet covered by the watermark. */
  get inFlight(): number {
    return this.pending.length - this.head;
  }
}
