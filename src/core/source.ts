import type { Logger } from 'pino';
import { Component, type KeyToFixOf } from './component.js';
import { PgRelayError } from './errors.js';
import type { Metrics } from './metrics.js';
import type { Router } from './router.js';

/** A request to read a table again while streaming (POST /sources/NAME/backfill). */
export interface BackfillRequest {
  table: string;
  /** SQL condition limiting the rows read. */
  where?: string | undefined;
}

/**
 * A backfill that cannot start. Codes: PGRELAY_BACKFILL_UNSUPPORTED (the source kind cannot),
 * PGRELAY_BACKFILL_TABLE (a table it cannot read: unknown, unpublished, without a key, bad where),
 * PGRELAY_BACKFILL_RUNNING (one runs for the table), PGRELAY_BACKFILL_NOT_STREAMING.
 */
export class BackfillError extends PgRelayError {}

export interface SourceContext {
  log: Logger;
  logLevel: string;
  metrics: Metrics;
  router: Router;
  /** Names the config key behind a failure, for its message. */
  keyToFix?: KeyToFixOf;
}

/**
 * A source reads changes, hands them to the router in batches and moves its stored position only
 * when every sink acknowledged everything before it (see Watermark).
 */
export abstract class Source extends Component {
  protected readonly router: Router;
  protected readonly metrics: Metrics;

  protected constructor(name: string, type: string, context: SourceContext) {
    super('source', name, type, context.log, context.logLevel, context.keyToFix);
    this.router = context.router;
    this.metrics = context.metrics;
  }

  /** Connects and streams in the background, reporting through `health`. */
  abstract start(): void;

  /** Stops handing out batches, at once: after it returns the router sees nothing new from this source. */
  abstract stopInput(): void;

  /**
   * Waits until the sinks acknowledged what was handed out (or `deadline` aborts), stores the
   * position and disconnects.
   */
  abstract stop(deadline: AbortSignal): Promise<void>;

  /** Starts reading `request.table` again beside the stream; resolves with the backfill's id. */
  backfill(_request: BackfillRequest): Promise<string> {
    return Promise.reject(
      new BackfillError(
        'PGRELAY_BACKFILL_UNSUPPORTED',
        `source ${this.name} is a ${this.type} source: only postgres sources backfill tables`,
      ),
    );
  }
}
