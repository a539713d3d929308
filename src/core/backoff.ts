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
