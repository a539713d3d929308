import {
  type Broker,
  type Connection,
  Producer,
  Writer,
  produceV9,
  produceV10,
  produceV11,
  protocolErrors,
  protocolErrorsCodesById,
} from '@platformatic/kafka';
import type { Logger } from 'pino';
import { type KafkaConnection, clientOptions, logBrokerStates } from './client.js';
import { KafkaRejectedError, KafkaUnavailableError } from './errors.js';
import type { BatchStamp, RecordBatch } from './record-batch.js';
import { KafkaTransaction } from './transaction.js';

type ProduceResponse = produceV11.ProduceResponse;

export type Acks = 'all' | 'leader' | 'none';
const ACKS = { all: -1, leader: 1, none: 0 } as const;

const PRODUCE_API = 0;
/** Produce v9 (Kafka 2.8) is the first flexible version; v12+ changes nothing pgrelay uses, v13 moves to topic ids. */
const PARSERS = { 9: produceV9.parseResponse, 10: produceV10.parseResponse, 11: produceV11.parseResponse };
type ProduceVersion = keyof typeof PARSERS;

/** Answers after which the partition's leader must be looked up again. */
const STALE_METADATA = new Set([
  'UNKNOWN_TOPIC_OR_PARTITION',
  'LEADER_NOT_AVAILABLE',
  'NOT_LEADER_OR_FOLLOWER',
  'FENCED_LEADER_EPOCH',
]);
/** The broker already holds this batch (a retry of one it had written): success. */
const DUPLICATE_SEQUENCE = 46;
/** How many rounds without progress send() retries before it reports the outage. */
const ROUNDS = 6;
/** The pause before each of those rounds. */
const BACKOFF_MS = [100, 250, 500, 1000, 1000];

/** The sequence after `sequence` and `count` records: sequences wrap to 0 after 2^31-1, as in the Java client. */
export function nextSequence(sequence: number, count: number): number {
  const MAX = 0x7fffffff;
  return sequence > MAX - count ? count - (MAX - sequence) - 1 : sequence + count;
}

/** Why the broker refused a batch for good. */
export interface ProduceFailure {
  /** The protocol error: MESSAGE_TOO_LARGE, OUT_OF_ORDER_SEQUENCE_NUMBER... */
  id: string;
  message: string;
}

/** A sealed batch on its way to one partition, and how far it got. */
export interface OutgoingBatch {
  readonly topic: string;
  readonly partition: number;
  readonly batch: RecordBatch;
  state: 'pending' | 'acked' | 'failed';
  failure?: ProduceFailure;
}

/**
 * Sends record batches pgrelay encoded itself through @platformatic/kafka's connections: the library
 * keeps connections (TLS, SASL), metadata and the producer id; this class keeps the idempotence
 * sequence numbers and the retry policy. With acks = all it produces idempotently: a batch sent again
 * after a lost answer or a leader change is written once. With a transactional id every batch is
 * written inside `transaction`, which its owner commits or aborts.
 */
export class KafkaProducer {
  readonly client: Producer;
  readonly idempotent: boolean;
  readonly transaction: KafkaTransaction | undefined;
  private version: ProduceVersion = 11;
  private readonly stamper: BatchStamper;
  private opened = false;

  constructor(
    connection: KafkaConnection,
    private readonly acks: Acks,
    private readonly timeoutMs: number,
    /** Names the component and brokers in errors. */
    private readonly where: string,
    log: Logger,
    transactionalId?: string,
    transactionTimeoutMs = 60_000,
  ) {
    this.client = new Producer({
      ...clientOptions(connection),
      autocreateTopics: false,
      // The library draws a random id (loading crypto: 3 MB at rest) for its own transactions, which
      // pgrelay does not use: KafkaTransaction carries the transactional id.
      transactionalId: transactionalId ?? 'pgrelay-no-transactions',
    });
    this.idempotent = acks === 'all';
    this.stamper = new BatchStamper(this.idempotent);
    this.transaction =
      transactionalId === undefined
        ? undefined
        : new KafkaTransaction(this.client, transactionalId, transactionTimeoutMs, where);
    logBrokerStates(this.client, log);
  }

  /** Picks the Produce version and, producing idempotently, gets a producer id. Safe to call again. */
  async open(): Promise<void> {
    if (this.opened) return;
    const produce = (await this.client.listApis()).find((api) => api.apiKey === PRODUCE_API);
    const version = Math.min(produce?.maxVersion ?? 0, 11);
    if (produce === undefined || version < 9 || version < produce.minVersion) {
      throw new KafkaRejectedError(
        this.where,
        'UNSUPPORTED_VERSION',
        new Error(
          `the broker offers Produce v${produce?.minVersion}..v${produce?.maxVersion}; pgrelay needs v9..v11 (Kafka 2.8 or newer)`,
        ),
      );
    }
    this.version = version as ProduceVersion;
    if (this.idempotent) await this.resetProducerId();
    this.opened = true;
  }

  /**
   * A new producer id, every partition's sequence back to 0. After a batch failed for good the
   * sequences after it are void; the batches not yet written are encoded again under the new id.
   * Transactional: the same producer id, a new epoch; the open transaction is aborted.
   */
  async resetProducerId(): Promise<void> {
    if (!this.idempotent) return;
    const { producerId, producerEpoch } =
      this.transaction === undefined
        ? await this.client.initIdempotentProducer({})
        : await this.transaction.init();
    this.stamper.restart({ producerId, producerEpoch, transactional: this.transaction !== undefined });
  }

  /** Partition counts of `topics`; throws the library's "Unknown topic" for one that does not exist. */
  async partitionCounts(topics: string[], autocreate: boolean): Promise<Map<string, number>> {
    const metadata = await this.client.metadata({ topics, autocreateTopics: autocreate });
    return new Map(topics.map((topic) => [topic, metadata.topics.get(topic)?.partitionsCount ?? 0]));
  }

  /**
   * Sends the pending batches, each partition's in order and one at a time, each leader's in one
   * request. A batch the broker refuses with a retriable answer (a leader moving, a network error)
   * is sent again as it is, after fresh metadata; only the partitions that failed are. Returns when
   * every batch is acknowledged or failed for good (the caller decides what to do with those, and a
   * partition's batches after a failed one stay pending); throws when the brokers stay unavailable.
   * A batch is stamped as it is first sent: sequences follow the order batches go out in, whatever
   * order they were encoded in.
   */
  async send(batches: OutgoingBatch[], signal?: AbortSignal): Promise<void> {
    this.stamper.seal(batches);
    await this.transaction?.add(batches.filter((b) => b.state === 'pending'));
    let idle = 0;
    let refresh = false;
    let lastError: unknown;
    for (;;) {
      const round = nextRound(batches);
      if (round.length === 0) return;
      const metadata = await this.client.metadata({
        topics: [...new Set(round.map((b) => b.topic))],
        forceUpdate: refresh,
      });
      refresh = false;
      const byLeader = new Map<number, OutgoingBatch[]>();
      let retry = false;
      for (const outgoing of round) {
        const leader = metadata.topics.get(outgoing.topic)?.partitions[outgoing.partition]?.leader ?? -1;
        if (leader < 0 || !metadata.brokers.has(leader)) {
          retry = refresh = true;
          lastError = new Error(`no leader for ${outgoing.topic}[${outgoing.partition}]`);
          continue;
        }
        let list = byLeader.get(leader);
        if (list === undefined) byLeader.set(leader, (list = []));
        list.push(outgoing);
      }
      const before = round.filter((b) => b.state === 'acked').length;
      const outcomes = await Promise.all(
        [...byLeader].map(([leader, list]) => this.request(metadata.brokers.get(leader)!, list)),
      );
      for (const outcome of outcomes) {
        if (outcome.retry) retry = true;
        if (outcome.refresh) refresh = true;
        if (outcome.error !== undefined) lastError = outcome.error;
      }
      if (!retry) continue;
      const progressed = round.filter((b) => b.state === 'acked').length > before;
      idle = progressed ? 0 : idle + 1;
      if (idle >= ROUNDS || signal?.aborted) throw new KafkaUnavailableError(this.where, lastError);
      await new Promise((resolve) => setTimeout(resolve, BACKOFF_MS[Math.max(0, idle - 1)] ?? 1000));
    }
  }

  /** One Produce request to a leader; marks each batch acked, failed, or still pending. */
  private async request(
    broker: Broker,
    list: OutgoingBatch[],
  ): Promise<{ retry: boolean; refresh: boolean; error?: unknown }> {
    let response: ProduceResponse | boolean;
    try {
      const connection = await this.client.connections.get(broker);
      response = await this.produce(connection, list);
    } catch (error) {
      // Lost or unanswered: whether the broker wrote it is unknown, so the same bytes go again
      // (idempotence makes a second copy a no-op) once the leader is looked up afresh.
      return { retry: true, refresh: true, error };
    }
    if (typeof response === 'boolean') {
      for (const outgoing of list) outgoing.state = 'acked';
      return { retry: false, refresh: false };
    }
    const byPartition = new Map(list.map((b) => [`${b.topic}\0${b.partition}`, b]));
    const outcome: { retry: boolean; refresh: boolean; error?: unknown } = { retry: false, refresh: false };
    for (const topic of response.responses) {
      for (const answer of topic.partitionResponses) {
        const outgoing = byPartition.get(`${topic.name}\0${answer.index}`);
        if (outgoing === undefined) continue;
        if (answer.errorCode === 0 || answer.errorCode === DUPLICATE_SEQUENCE) {
          outgoing.state = 'acked';
          continue;
        }
        const id = protocolErrorsCodesById[answer.errorCode] ?? `error ${answer.errorCode}`;
        const known = protocolErrors[id];
        const message = `${topic.name}[${answer.index}]: ${id}: ${answer.errorMessage ?? known?.message ?? ''}`;
        if (STALE_METADATA.has(id)) outcome.refresh = true;
        if (known?.canRetry) {
          outcome.retry = true;
          outcome.error = new Error(message);
        } else {
          outgoing.state = 'failed';
          outgoing.failure = { id, message };
        }
      }
    }
    return outcome;
  }

  private produce(connection: Connection, list: OutgoingBatch[]): Promise<ProduceResponse | boolean> {
    const byTopic = new Map<string, OutgoingBatch[]>();
    for (const outgoing of list) {
      let items = byTopic.get(outgoing.topic);
      if (items === undefined) byTopic.set(outgoing.topic, (items = []));
      items.push(outgoing);
    }
    const writer = Writer.create()
      .appendString(this.transaction?.id ?? null, true)
      .appendInt16(ACKS[this.acks])
      .appendInt32(this.timeoutMs)
      .appendArray(
        [...byTopic],
        (w, [topic, items]) => {
          w.appendString(topic, true).appendArray(
            items,
            (w, { partition, batch }) => {
              const bytes = batch.bytes;
              w.appendInt32(partition)
                .appendUnsignedVarInt(bytes.length + 1)
                .append(bytes);
            },
            true,
            true,
          );
        },
        true,
        true,
      )
      .appendTaggedFields();
    if (this.acks === 'none') writer.context.noResponse = true;
    return new Promise((resolve, reject) => {
      connection.send(
        PRODUCE_API,
        this.version,
        () => writer,
        PARSERS[this.version],
        true,
        true,
        (error, response) => {
          // On any partition's error the parser throws a ResponseError that carries the whole response.
          const answer = (error as { response?: ProduceResponse } | null)?.response;
          if (answer?.responses !== undefined) resolve(answer);
          else if (error) reject(error);
          // acks = none: the library answers with whether the socket took the request.
          else resolve(response as ProduceResponse | boolean);
        },
      );
    });
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

/**
 * Producer id, epoch and each partition's next sequence, which a batch claims when it is sealed, as
 * it is first sent (as the Java client's accumulator does when it drains a batch).
 */
export class BatchStamper {
  private base: Omit<BatchStamp, 'baseSequence'> = { producerId: -1n, producerEpoch: -1 };
  private readonly sequences = new Map<string, number>();

  constructor(private readonly idempotent: boolean) {}

  /** Under a new producer id or epoch, every partition's sequence starts at 0. */
  restart(base: Omit<BatchStamp, 'baseSequence'>): void {
    this.base = base;
    this.sequences.clear();
  }

  /** Seals the pending batches not yet sealed, in order; a sealed batch goes again as it is. */
  seal(batches: OutgoingBatch[]): void {
    for (const outgoing of batches) {
      if (outgoing.state !== 'pending' || outgoing.batch.sealed) continue;
      const { topic, partition, batch } = outgoing;
      if (!this.idempotent) {
        batch.seal({ ...this.base, baseSequence: -1 });
        continue;
      }
      const key = `${topic}\0${partition}`;
      const baseSequence = this.sequences.get(key) ?? 0;
      this.sequences.set(key, nextSequence(baseSequence, batch.count));
      batch.seal({ ...this.base, baseSequence });
    }
  }
}

/** Each partition's first batch not yet acknowledged, when it is pending (not failed). */
function nextRound(batches: OutgoingBatch[]): OutgoingBatch[] {
  const seen = new Set<string>();
  const round: OutgoingBatch[] = [];
  for (const outgoing of batches) {
    if (outgoing.state === 'acked') continue;
    const key = `${outgoing.topic}\0${outgoing.partition}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if (outgoing.state === 'pending') round.push(outgoing);
  }
  return round;
}
