import { setTimeout as sleep } from 'node:timers/promises';
import { isRetriable } from './errors.js';

export interface BackoffOptions {
  /** First delay, ms. */
  initialMs: number;
  /** Upper bound of a delay, ms. */
  maxMs: number;
  factor?: number;
  /** Fraction of each delay randomised away, so many clients do not retry in lockstep. */
  jitter?: number;
}

/** Exponential backoff delays: initial, initial*factor, ... capped at max, with jitter. */
export class Backoff {
  private attempt = 0;

  constructor(private readonly options: BackoffOptions) {}

  next(): number {
    const { initialMs, maxMs, factor = 2, jitter = 0.2 } = this.options;
    const base = Math.min(maxMs, initialMs * factor ** this.attempt++);
    return Math.round(base * (1 - jitter * Math.random()));
  }

  reset(): void {
    this.attempt = 0;
  }
}

export interface RetryOptions extends BackoffOptions {
  signal?: AbortSignal;
  /** Called before each wait; the component reports "retrying" here. */
  onRetry?: (error: unknown, delayMs: number, attempt: number) => void;
}

/**
 * Runs `operation` until it succeeds, retrying retriable errors with backoff and no attempt limit:
 * giving up would mean dropping data. A non-retriable error, or an abort, ends the loop by throwing.
 */
export async function retry<T>(
  operation: (attempt: number) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  const backoff = new Backoff(options);
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation(attempt);
    } catch (error) {
      if (!isRetriable(error) || options.signal?.aborted) throw error;
      const delay = backoff.next();
      options.onRetry?.(error, delay, attempt);
      await sleep(delay, undefined, { signal: options.signal }).catch(() => undefined);
      if (options.signal?.aborted) throw error;
    }
  }
}
