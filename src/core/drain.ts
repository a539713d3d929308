/**
 * Waiting until a source's handed-out work is all acknowledged: before a reconnect (to resume from an
 * exact position), at a rebalance, and at shutdown. `isIdle` says whether nothing is in flight.
 */
export class Drain {
  private waiters: (() => void)[] = [];

  constructor(private readonly isIdle: () => boolean) {}

  /** Resolves once idle, or when `signal` aborts (a deadline), whichever comes first. */
  until(signal: AbortSignal): Promise<void> {
    if (this.isIdle() || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        signal.removeEventListener('abort', done);
        resolve();
      };
      signal.addEventListener('abort', done, { once: true });
      this.waiters.push(done);
    });
  }

  /** Call after each acknowledgement: releases the waiters once nothing is in flight. */
  check(): void {
    if (this.waiters.length > 0 && this.isIdle()) this.release();
  }

  /** Releases every waiter now (the in-flight work was abandoned). */
  release(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }
}
