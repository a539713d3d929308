/**
 * Callers waiting for something to happen (everything acknowledged, a stream running): release()
 * resolves them all. A wait also ends, resolved, when its signal aborts, so callers check why.
 */
export class Waiters {
  private waiting: Waiter[] = [];

  wait(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = new Waiter(signal, resolve);
      signal.addEventListener('abort', waiter, { once: true });
      this.waiting.push(waiter);
    });
  }

  release(): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const waiter of waiting) waiter.end();
  }
}

/**
 * One wait, an object rather than a closure: the bundle keeps function names (esbuild keepNames),
 * and naming a closure made at each call cost 5 to 7 µs (docs/performance.md, "Names").
 */
class Waiter {
  constructor(
    private readonly signal: AbortSignal,
    private readonly resolve: () => void,
  ) {}

  /** The signal aborted (EventTarget calls a listener object's handleEvent). */
  handleEvent(): void {
    this.end();
  }

  end(): void {
    this.signal.removeEventListener('abort', this);
    this.resolve();
  }
}

/** Resolves when `signal` aborts (at once when it already has). */
export function whenAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
