import { setTimeout as sleep } from 'node:timers/promises';
import {
  type Broker,
  type Connection,
  type Producer,
  addOffsetsToTxnV3,
  addPartitionsToTxnV3,
  endTxnV3,
  findCoordinatorV4,
  initProducerIdV4,
  txnOffsetCommitV3,
} from '@platformatic/kafka';
import { PgRelayError } from '../core/errors.js';
import { KafkaUnavailableError, protocolError } from './errors.js';

/** FindCoordinator key types. */
const GROUP = 0;
const TRANSACTION = 1;
/** Answers after which the coordinator is looked up again. */
const MOVED = new Set(['NOT_COORDINATOR', 'COORDINATOR_NOT_AVAILABLE', 'COORDINATOR_LOAD_IN_PROGRESS']);
/** The coordinator is still finishing the previous transaction (its markers): ask again shortly. */
const BUSY = new Set(['CONCURRENT_TRANSACTIONS']);
/** Attempts of a step whose outcome may be given up on (everything but EndTxn's commit). */
const ATTEMPTS = 40;
const BACKOFF_MS = [10, 20, 50, 100, 250, 500, 1000];

/** The consumer group offsets a transaction commits, and the member that may commit them (KIP-447). */
export interface GroupOffsets {
  groupId: string;
  generationId: number;
  memberId: string;
  offsets: { topic: string; partition: number; offset: number }[];
}

/**
 * The transaction could not commit and was aborted (or will be, by the coordinator): what it
 * wrote is invisible to read_committed consumers and its offsets were not committed.
 */
export class TransactionAbortedError extends PgRelayError {
  constructor(message: string, cause: unknown) {
    super('PGRELAY_KAFKA_TRANSACTION_ABORTED', message, { cause, retriable: true });
  }
}

/**
 * One transactional producer's transactions, spoken with the coordinators directly (the library's
 * transactions run through its own send path, which the sink does not use): InitProducerId with
 * the transactional id, AddPartitionsToTxn before the first batch to a partition, AddOffsetsToTxn
 * and TxnOffsetCommit for the consumer group's offsets, EndTxn.
 */
export class KafkaTransaction {
  producerId = -1n;
  producerEpoch = -1;
  /** Partitions written in the open transaction ("topic\0partition"). */
  private readonly partitions = new Set<string>();
  private readonly coordinators = new Map<string, Broker>();

  constructor(
    private readonly client: Producer,
    readonly id: string,
    private readonly timeoutMs: number,
    private readonly where: string,
  ) {}

  /** Whether the open transaction holds anything. */
  get open(): boolean {
    return this.partitions.size > 0;
  }

  /**
   * A producer id and epoch for the transactional id. The coordinator first aborts (or completes)
   * a transaction an earlier holder of the id left open, and fences that holder.
   */
  async init(): Promise<{ producerId: bigint; producerEpoch: number }> {
    this.partitions.clear();
    const answer = await this.call(TRANSACTION, this.id, 'InitProducerId', (c) =>
      initProducerIdV4.api.async(c, this.id, this.timeoutMs, -1n, -1),
    );
    this.producerId = answer.producerId;
    this.producerEpoch = answer.producerEpoch;
    return { producerId: this.producerId, producerEpoch: this.producerEpoch };
  }

  /** Adds the partitions not yet in the open transaction: the broker refuses batches to others. */
  async add(partitions: Iterable<{ topic: string; partition: number }>): Promise<void> {
    const added = new Map<string, Set<number>>();
    for (const { topic, partition } of partitions) {
      if (this.partitions.has(`${topic}\0${partition}`)) continue;
      let set = added.get(topic);
      if (set === undefined) added.set(topic, (set = new Set()));
      set.add(partition);
    }
    if (added.size === 0) return;
    const topics = [...added].map(([name, set]) => ({ name, partitions: [...set] }));
    await this.call(TRANSACTION, this.id, 'AddPartitionsToTxn', (c) =>
      addPartitionsToTxnV3.api.async(c, [
        {
          transactionalId: this.id,
          producerId: this.producerId,
          producerEpoch: this.producerEpoch,
          verifyOnly: false,
          topics,
        },
      ]),
    );
    for (const { name, partitions: list } of topics)
      for (const partition of list) this.partitions.add(`${name}\0${partition}`);
  }

  /**
   * Commits what the transaction wrote together with `group`'s offsets. The group coordinator
   * takes the offsets only from the member of the current generation (KIP-447), so a member the
   * group has moved on from cannot commit. Throws TransactionAbortedError when it did not commit;
   * EndTxn itself is retried until the coordinator answers, since only the answer tells whether
   * the transaction committed.
   */
  async commit(group: GroupOffsets | undefined, signal?: AbortSignal): Promise<void> {
    if (group !== undefined && group.offsets.length > 0) {
      try {
        await this.call(TRANSACTION, this.id, 'AddOffsetsToTxn', (c) =>
          addOffsetsToTxnV3.api.async(c, this.id, this.producerId, this.producerEpoch, group.groupId),
        );
        await this.call(GROUP, group.groupId, 'TxnOffsetCommit', (c) =>
          txnOffsetCommitV3.api.async(
            c,
            this.id,
            group.groupId,
            this.producerId,
            this.producerEpoch,
            group.generationId,
            group.memberId,
            null,
            groupByTopic(group.offsets),
          ),
        );
      } catch (error) {
        await this.abort();
        throw new TransactionAbortedError(
          `${this.where}: transaction ${this.id}: the offsets of group ${group.groupId} were not taken (${protocolError(error) ?? (error as Error).message}): aborted`,
          error,
        );
      }
    } else if (!this.open) return;
    try {
      await this.call(
        TRANSACTION,
        this.id,
        'EndTxn',
        (c) => endTxnV3.api.async(c, this.id, this.producerId, this.producerEpoch, true),
        signal ?? new AbortController().signal,
      );
    } catch (error) {
      // Stopped before the coordinator answered: whether it committed is for the next init() to settle.
      if (error instanceof KafkaUnavailableError) throw error;
      // A definite no: the coordinator aborted it (its timeout passed, or another producer took the id).
      this.partitions.clear();
      throw new TransactionAbortedError(
        `${this.where}: transaction ${this.id} was aborted by the coordinator (${protocolError(error) ?? (error as Error).message})`,
        error,
      );
    }
    this.partitions.clear();
  }

  /** Aborts the open transaction, or leaves it to the coordinator's timeout when it cannot be reached. */
  async abort(): Promise<void> {
    if (this.producerId < 0n) return;
    try {
      await this.call(TRANSACTION, this.id, 'EndTxn', (c) =>
        endTxnV3.api.async(c, this.id, this.producerId, this.producerEpoch, false),
      );
    } catch {
      // The next init() aborts it, or the coordinator does after transaction_timeout.
    }
    this.partitions.clear();
  }

  /**
   * One request to a coordinator, asked again while the coordinator moves, is busy or cannot be
   * reached: ATTEMPTS times, or with `until`, until that signal aborts.
   */
  private async call<T>(
    keyType: number,
    key: string,
    name: string,
    request: (connection: Connection) => Promise<T>,
    until?: AbortSignal,
  ): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      let error: unknown;
      try {
        return await request(await this.coordinator(keyType, key));
      } catch (caught) {
        error = caught;
      }
      const id = protocolError(error);
      const retriable = id === undefined || MOVED.has(id) || BUSY.has(id);
      if (!retriable) throw error;
      if (id === undefined || MOVED.has(id)) this.coordinators.delete(`${keyType}:${key}`);
      if (until === undefined ? attempt + 1 >= ATTEMPTS : until.aborted)
        throw new KafkaUnavailableError(`${this.where} (${name} for transaction ${this.id})`, error);
      await sleep(BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)]);
    }
  }

  private async coordinator(keyType: number, key: string): Promise<Connection> {
    const cacheKey = `${keyType}:${key}`;
    let broker = this.coordinators.get(cacheKey);
    if (broker === undefined) {
      const metadata = await this.client.metadata({ topics: [] });
      const bootstrap = metadata.brokers.values().next().value;
      if (bootstrap === undefined) throw new Error('no broker known');
      const connection = await this.client.connections.get(bootstrap);
      const answer = await findCoordinatorV4.api.async(connection, keyType, [key]);
      const found = answer.coordinators.find((c) => c.key === key) ?? answer.coordinators[0];
      if (found === undefined || found.errorCode !== 0 || found.nodeId < 0)
        throw new Error(`no coordinator for ${key} yet (error ${found?.errorCode})`);
      broker = metadata.brokers.get(found.nodeId) ?? { host: found.host, port: found.port };
      this.coordinators.set(cacheKey, broker);
    }
    return this.client.connections.get(broker);
  }
}

function groupByTopic(offsets: GroupOffsets['offsets']) {
  const byTopic = new Map<
    string,
    { partitionIndex: number; committedOffset: bigint; committedLeaderEpoch: number }[]
  >();
  for (const { topic, partition, offset } of offsets) {
    let list = byTopic.get(topic);
    if (list === undefined) byTopic.set(topic, (list = []));
    list.push({ partitionIndex: partition, committedOffset: BigInt(offset), committedLeaderEpoch: -1 });
  }
  return [...byTopic].map(([name, partitions]) => ({ name, partitions }));
}
