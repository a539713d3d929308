import { setTimeout as sleep } from 'node:timers/promises';
import { Backoff } from './backoff.js';
import { PgRelayError, classifyError } from './errors.js';

export interface SupervisorOptions {
  /** First retry delay and the largest one, ms. */
  initialMs: number;
  maxMs: number;
  /** Aborts the supervised work for good (the component stops). */
  signal: AbortSignal;
  /**
   * Turns what an attempt threw into a named error whose `retriable` decides between retrying and
   * stopping. Components with a vocabulary of their own (server errors, protocol errors) pass theirs;
   * the default names socket failures retriable and anything else an internal error.
   */
  classify?: (error: unknown) => PgRelayError;
}

/** What the supervisor reports to: the component's health and log. */
export interface SupervisedComponent {
  /** "source db1", "sink out", "backfill 3f2c… of public.users": for messages. */
  readonly label: string;
  /** Waiting `delayMs` before trying again after a retriable `error`. */
  retrying(error: unknown, delayMs: number): void;
  /** Stopped for good by a non-retriable `error`. */
  fail(error: unknown): void;
  /** An attempt succeeded after retries. */
  recovered?(): void;
}

/** How a supervised run ended. */
export type RunOutcome = 'done' | 'failed' | 'stopped';

/**
 * The one lifecycle of sources, sinks and backfills (the engine owns reconnecting, as in Vector's
 * topology and Redpanda Connect): an attempt that fails with a retriable error is tried again after
 * a backoff, with the component `retrying`; any other error stops it, `failed`, holding every position
 * behind it; an abort stops it quietly. A component's own code never decides these by itself.
 */
export class Supervisor {
  private readonly backoff: Backoff;
  private readonly classify: (error: unknown) => PgRelayError;

  constructor(
    private readonly component: SupervisedComponent,
    private readonly options: SupervisorOptions,
  ) {
    this.backoff = new Backoff({ initialMs: options.initialMs, maxMs: options.maxMs });
    this.classify = options.classify ?? ((error) => classifyError(error, component.label));
  }

  /**
   * Runs `session` until it returns 'done', fails for good, or the signal aborts. A session that
   * returns 'ended' (its connection closed) or throws a retriable error is started again after a
   * backoff. `ready()`: the session is up, so the next failure starts the backoff over.
   * `cleanup` runs after every session that did not finish (close connections); `beforeRetry`
   * before each new attempt (let in-flight batches land, store the position).
   */
  async run(
    session: (ready: () => void) => Promise<'done' | 'ended'>,
    hooks: { cleanup?: () => Promise<void>; beforeRetry?: () => Promise<void> } = {},
  ): Promise<RunOutcome> {
    const { signal } = this.options;
    while (!signal.aborted) {
      let failure: unknown;
      try {
        if ((await session(() => this.backoff.reset())) === 'done') return 'done';
        failure = new PgRelayError(
          'PGRELAY_CONNECTION_ENDED',
          `${this.component.label}: the connection ended`,
          {
            retriable: true,
          },
        );
      } catch (error) {
        failure = error;
      }
      await hooks.cleanup?.();
      if (signal.aborted) break;
      if (!(await this.afterFailure(failure))) return 'failed';
      await hooks.beforeRetry?.();
      if (signal.aborted) break;
    }
    return 'stopped';
  }

  /**
   * Runs `operation` until it succeeds: a retriable failure is retried after a backoff (the
   * component `retrying`, then back to `running` on success); any other failure, or an abort, is
   * thrown to the caller, classified.
   */
  async attempt<T>(operation: () => Promise<T>): Promise<T> {
    const { signal } = this.options;
    for (;;) {
      try {
        const result = await operation();
        this.backoff.reset();
        this.component.recovered?.();
        return result;
      } catch (error) {
        const classified = this.classify(error);
        if (signal.aborted || !classified.retriable) throw classified;
        await this.wait(classified);
        if (signal.aborted) throw classified;
      }
    }
  }

  /** Reports the failure; true when it is retriable (after waiting out the backoff). */
  private async afterFailure(error: unknown): Promise<boolean> {
    const classified = this.classify(error);
    if (!classified.retriable) {
      this.component.fail(classified);
      return false;
    }
    await this.wait(classified);
    return true;
  }

  private async wait(error: PgRelayError): Promise<void> {
    const delay = this.backoff.next();
    this.component.retrying(error, delay);
    await sleep(delay, undefined, { signal: this.options.signal }).catch(() => undefined);
  }
}
