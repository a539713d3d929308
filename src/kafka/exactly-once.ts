import type { Logger } from 'pino';
import { errorMessage } from '../core/errors.js';
import { type GroupOffsets, type KafkaTransaction, TransactionAbortedError } from './transaction.js';

/** The Kafka source's side: the offsets every sink acknowledged, and a way back to the committed ones. */
export interface TransactionalSource {
  /** The offsets moved since the last commit, with the member that may commit them; undefined when none moved. */
  offsetsToCommit(): { group: GroupOffsets; succeeded(): void; failed(): void } | undefined;
  /** An aborted transaction took delivered messages with it: read every partition again from its committed offset. */
  rewind(): void;
}

/** The Kafka sink's side: its producer's transaction, and its buffer of batches not yet delivered. */
export interface TransactionalSink {
  readonly transaction: KafkaTransaction | undefined;
  /** Drops the batches buffered and not yet delivered, unacknowledged (the source reads them again). */
  discard(): void;
}

/**
 * Ties an exactly-once Kafka source to its one Kafka sink. Each delivery of the sink (its write, the
 * acknowledgements, the commit) and each commit the source asks for run one at a time, so a
 * transaction holds exactly the records of the batches whose offsets it commits. When one aborts,
 * both go back to the committed offsets: the sink drops what it buffered, the source reads it again.
 */
export class ExactlyOnceLink {
  private source: TransactionalSource | undefined;
  private sink: TransactionalSink | undefined;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    /** The Kafka source's name. */
    readonly sourceName: string,
    /** The sink producer's transactional id: the same for every run of this pgrelay. */
    readonly transactionalId: string,
    /** How long a transaction may stay open before its coordinator aborts it (transaction_timeout). */
    readonly transactionTimeoutMs: number,
    private readonly log: Logger,
  ) {}

  attachSource(source: TransactionalSource): void {
    this.source = source;
  }

  attachSink(sink: TransactionalSink): void {
    this.sink = sink;
  }

  /** Runs `work` once nothing else of this link runs. */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.tail.then(work, work);
    this.tail = run.catch(() => undefined);
    return run;
  }

  /**
   * Commits the open transaction with the source's moved offsets; call it inside exclusive(). A
   * transaction that aborts (the group moved on to a new generation, the coordinator timed it out)
   * sends both sides back to the committed offsets, when it had written anything. Throws what
   * keeps the commit from being known (the coordinator unreachable until `signal`).
   */
  async commit(signal?: AbortSignal): Promise<void> {
    const transaction = this.sink?.transaction;
    if (transaction === undefined || transaction.producerId < 0n) return;
    const pending = this.source?.offsetsToCommit();
    const wrote = transaction.open;
    if (pending === undefined) {
      // Records whose offsets are no longer this member's to commit (given up meanwhile).
      if (wrote) await this.abort('its partitions were given up');
      return;
    }
    try {
      await transaction.commit(pending.group, signal);
      pending.succeeded();
    } catch (error) {
      pending.failed();
      if (!(error instanceof TransactionAbortedError)) throw error;
      if (wrote) this.rewind(errorMessage(error));
      else this.log.debug({ err: error }, 'committing offsets in a transaction failed; will retry');
    }
  }

  /** Aborts the open transaction and goes back to the committed offsets; call it inside exclusive(). */
  async abort(reason: string): Promise<void> {
    await this.sink?.transaction?.abort();
    this.rewind(reason);
  }

  private rewind(reason: string): void {
    this.log.warn(
      { source: this.sourceName, transactionalId: this.transactionalId },
      `transaction ${this.transactionalId} aborted (${reason}): source ${this.sourceName} reads again from its committed offsets`,
    );
    this.sink?.discard();
    this.source?.rewind();
  }
}
