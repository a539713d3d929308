import { Waiters } from './waiters.js';

/**
 * Waiting until a source's handed-out work is all acknowledged: before a reconnect (to resume from an
 * exact position), at a rebalance, and at shutdown. `isIdle` says whether nothing is in flight.
 */
export class Drain {
  private readonly waiters = new Waiters();

  constructor(private readonly isIdle: () => boolean) {}

  /** Resolves once idle, or when `signal` aborts (a deadline), whichever comes first. */
  until(signal: AbortSignal): Promise<void> {
    return this.isIdle() || signal.aborted ? Promise.resolve() : this.waiters.wait(signal);
  }

  /** Call after each acknowledgement: releases the waiters once nothing is in flight. */
  check(): void {
    if (this.isIdle()) this.waiters.release();
  }

  /** Releases every waiter now (the in-flight work was abandoned). */
  release(): void {
    this.waiters.release();
  }
}
