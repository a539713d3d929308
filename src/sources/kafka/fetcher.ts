import { setTimeout as sleep } from 'node:timers/promises';
import {
  type BaseOptions,
  type Broker,
  type Consumer,
  ConnectionPool,
  protocolErrorsCodesById,
} from '@platformatic/kafka';
import { PgRelayError } from '../../core/errors.js';
import {
  type AbortedTransaction,
  type FetchVersion,
  READ_COMMITTED,
  fetchVersion,
  sendFetch,
} from '../../kafka/fetch.js';
import { scanBatches } from '../../kafka/fetch-records.js';
import { KafkaForbiddenError } from '../../kafka/errors.js';
import { type TopicPartition, partitionKey } from './group.js';

/**
 * Bytes asked of a partition per fetch; a larger batch is asked for whole. A quarter of the Java
 * consumer's 1 MB: what a fetch brings waits, raw and decompressed, until relayed, and the relay
 * bench peaked at 174-177 MB RSS with 1 MB, 157 with 512 KB, 151-159 with 256 KB, at the same rate
 * and CPU per message (measured). A partition asks again as soon as its data is handed out.
 */
export const PARTITION_FETCH_BYTES = 256 << 10;
/** Bytes asked of a broker per fetch. */
const FETCH_BYTES = 8 << 20;
/** How long a broker holds a fetch while none of its partitions has data (also how long a stop waits for it). */
const LONG_POLL_MS = 500;
/** The same while some partitions of the broker sit out a fetch with data still to hand out: they will want more soon. */
const SHORT_POLL_MS = 20;

/** Partition errors after which the leader or the topic id may have changed: metadata is read again. */
const METADATA_ERRORS = new Set([
  'UNKNOWN_TOPIC_OR_PARTITION',
  'LEADER_NOT_AVAILABLE',
  'NOT_LEADER_OR_FOLLOWER',
  'REPLICA_NOT_AVAILABLE',
  'KAFKA_STORAGE_ERROR',
  'FENCED_LEADER_EPOCH',
  'UNKNOWN_LEADER_EPOCH',
  'OFFSET_NOT_AVAILABLE',
  'UNKNOWN_TOPIC_ID',
  'INCONSISTENT_TOPIC_ID',
]);
const FORBIDDEN = new Set(['TOPIC_AUTHORIZATION_FAILED', 'CLUSTER_AUTHORIZATION_FAILED']);

/** Records fetched for one partition, from its fetch offset (the first batch may start before it). */
export interface FetchedChunk {
  records: Buffer;
  abortedTransactions: AbortedTransaction[] | null;
  /** The offset after the last complete batch: where the next fetch starts. */
  nextOffset: number;
  highWatermark: number;
}

/** A partition the fetcher fetches for: its owner (the source) says where and whether it wants data. */
export interface FetchTarget extends TopicPartition {
  /** The next offset to fetch; the fetcher moves it past each chunk it hands over. */
  fetchOffset: number;
  /** False while it holds data it has not handed out yet, or once it was given up. */
  readonly wantsData: boolean;
  receive(chunk: FetchedChunk): void;
  /** The partition no longer holds `fetchOffset` (retention deleted it, or it is past the end). */
  outOfRange(): void;
  /** The partition's end as of the latest fetch, also when it brought no records. */
  highWatermark: number;
}

/** A Kafka answer to a fetch that is neither data nor a reason to read metadata again. */
export class FetchError extends PgRelayError {
  constructor(where: string, id: string) {
    super('PGRELAY_KAFKA_FETCH', `${where}: fetching failed: ${id}`, { retriable: true });
  }
}

export interface FetcherEvents {
  /** A fetch failed; returns how long to wait before fetching from that broker again. */
  failed(error: unknown): number;
  /** A fetch succeeded after failures. */
  recovered(): void;
  /** Kafka refuses reading for good (not authorized): the source stops. */
  refused(error: PgRelayError): void;
}

interface Leaders {
  brokers: Map<number, Broker>;
  topicIds: Map<string, string>;
  topicNames: Map<string, string>;
  leaders: Map<string, number>;
}

/**
 * Fetches records for the partitions a source owns: one loop per broker, each with at most one
 * Fetch in flight on a connection of its own (a fetch waiting for data would otherwise hold up
 * the group's heartbeats and commits queued behind it on the shared connection). A partition is
 * in a fetch only while it wants data, so each one's fetched-but-not-handed-out bytes stay at one
 * chunk, and a slow partition holds up no other.
 */
export class Fetcher {
  private readonly pool: ConnectionPool;
  private readonly targets = new Map<string, FetchTarget>();
  private readonly loops = new Map<number, Promise<void>>();
  /** Partitions whose next batch did not fit their last fetch, and the bytes it needs. */
  private readonly largeBatches = new Map<string, number>();
  private version: FetchVersion | undefined;
  private leaders: Leaders | undefined;
  private stale = true;
  private failing = false;
  private wakeup = Promise.withResolvers<void>();
  private readonly abort = new AbortController();
  private supervisor: Promise<void> | undefined;

  constructor(
    private readonly consumer: Consumer,
    client: BaseOptions,
    private readonly where: string,
    private readonly events: FetcherEvents,
  ) {
    this.pool = new ConnectionPool(`${client.clientId}-fetch`, client);
    // A dropped connection is reported by the fetch that used it; the pool reconnects on the next.
    this.pool.on('error', () => undefined);
  }

  start(): void {
    this.supervisor ??= this.supervise();
  }

  add(target: FetchTarget): void {
    this.targets.set(partitionKey(target), target);
    if (this.leaders?.leaders.get(partitionKey(target)) === undefined) this.stale = true;
    this.wake();
  }

  remove(target: FetchTarget): void {
    const key = partitionKey(target);
    if (this.targets.get(key) === target) this.targets.delete(key);
  }

  /** Something changed (a partition wants data again, was added or removed): idle loops look again. */
  wake(): void {
    const waking = this.wakeup;
    this.wakeup = Promise.withResolvers<void>();
    waking.resolve();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.wake();
    // Closing the connections ends fetches waiting for data at once.
    await this.pool.close().catch(() => undefined);
    await this.supervisor;
    await Promise.all(this.loops.values());
  }

  /** Keeps metadata fresh and a loop running for every broker that leads a wanted partition. */
  private async supervise(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      const woken = this.wakeup.promise;
      if (this.stale) {
        try {
          await this.refresh();
        } catch (error) {
          this.failing = true;
          await this.pause(this.events.failed(error));
          continue;
        }
      }
      for (const broker of new Set(this.leaders?.leaders.values())) {
        if (!this.loops.has(broker)) {
          this.loops.set(
            broker,
            this.fetchFrom(broker).finally(() => this.loops.delete(broker)),
          );
        }
      }
      await this.idle(woken);
    }
  }

  private async refresh(): Promise<void> {
    const topics = [...new Set([...this.targets.values()].map((t) => t.topic))];
    this.version ??= fetchVersion(await this.consumer.listApis(), this.where);
    const metadata = await this.consumer.metadata({ topics, forceUpdate: true });
    const leaders: Leaders = {
      brokers: metadata.brokers,
      topicIds: new Map(),
      topicNames: new Map(),
      leaders: new Map(),
    };
    for (const [name, topic] of metadata.topics) {
      leaders.topicIds.set(name, topic.id);
      leaders.topicNames.set(topic.id, name);
      topic.partitions.forEach((p, partition) => {
        if (p.leader >= 0) leaders.leaders.set(`${name}/${partition}`, p.leader);
      });
    }
    this.leaders = leaders;
    this.stale = false;
    this.wake();
  }

  /** One broker's fetches, one at a time, for the partitions it leads that want data. */
  private async fetchFrom(broker: number): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      const woken = this.wakeup.promise;
      const leaders = this.leaders;
      const led = [...this.targets.values()].filter((t) => leaders?.leaders.get(partitionKey(t)) === broker);
      if (led.length === 0) return;
      const wanting = led.filter((t) => t.wantsData);
      const address = leaders?.brokers.get(broker);
      if (this.stale || wanting.length === 0 || leaders === undefined || address === undefined) {
        await this.idle(woken);
        continue;
      }
      let waitMs = 0;
      try {
        waitMs = await this.fetch(address, wanting, led.length > wanting.length, leaders);
      } catch (error) {
        if (signal.aborted) return;
        this.failing = true;
        this.stale = true;
        this.wake();
        await this.pause(this.events.failed(error));
        continue;
      }
      if (waitMs > 0) await this.pause(waitMs);
    }
  }

  /**
   * Sends one Fetch and hands each partition's records to its target. Returns how long to wait
   * before the next: the broker's throttle time, or a backoff after a partition error.
   */
  private async fetch(
    broker: Broker,
    wanting: FetchTarget[],
    othersBusy: boolean,
    leaders: Leaders,
  ): Promise<number> {
    // A partition whose next batch is larger than the usual fetch goes first: the broker always
    // returns the first batch of the first partition whole.
    const requested = wanting
      .map((target) => ({ target, offset: target.fetchOffset, bytes: this.bytesFor(target) }))
      .sort((a, b) => b.bytes - a.bytes);
    const byTopic = new Map<
      string,
      { partition: number; fetchOffset: bigint; partitionMaxBytes: number }[]
    >();
    for (const { target, offset, bytes } of requested) {
      const topicId = leaders.topicIds.get(target.topic)!;
      const list = byTopic.get(topicId) ?? [];
      list.push({ partition: target.partition, fetchOffset: BigInt(offset), partitionMaxBytes: bytes });
      byTopic.set(topicId, list);
    }
    const response = await sendFetch(await this.pool.get(broker), this.version!, {
      maxWaitMs: othersBusy ? SHORT_POLL_MS : LONG_POLL_MS,
      maxBytes: Math.max(FETCH_BYTES, requested[0]!.bytes),
      isolationLevel: READ_COMMITTED,
      topics: [...byTopic].map(([topicId, partitions]) => ({ topicId, partitions })),
    });
    if (response.errorCode !== 0) throw new FetchError(this.where, errorName(response.errorCode));
    let waitMs = response.throttleTimeMs;
    let failed = false;
    const asked = new Map(requested.map((r) => [partitionKey(r.target), r]));
    for (const topic of response.topics) {
      const name = leaders.topicNames.get(topic.topicId);
      for (const fetched of topic.partitions) {
        const key = `${name}/${fetched.partition}`;
        const request = asked.get(key);
        // Given up, or reset, while the fetch was out: the answer is for an earlier state.
        if (request === undefined || this.targets.get(key) !== request.target) continue;
        const target = request.target;
        if (target.fetchOffset !== request.offset) continue;
        if (fetched.errorCode !== 0) {
          const backoff = this.partitionError(target, errorName(fetched.errorCode));
          failed ||= backoff > 0;
          waitMs = Math.max(waitMs, backoff);
          continue;
        }
        target.highWatermark = Number(fetched.highWatermark);
        if (fetched.records === null) continue;
        const scan = scanBatches(fetched.records);
        if (scan.nextOffset < 0) {
          this.largeBatches.set(key, Math.max(scan.incompleteBatchBytes, 2 * request.bytes));
          continue;
        }
        this.largeBatches.delete(key);
        target.fetchOffset = scan.nextOffset;
        target.receive({
          records: fetched.records,
          abortedTransactions: fetched.abortedTransactions,
          nextOffset: scan.nextOffset,
          highWatermark: Number(fetched.highWatermark),
        });
      }
    }
    if (this.failing && !failed) {
      this.failing = false;
      this.events.recovered();
    }
    this.failing ||= failed;
    return waitMs;
  }

  private bytesFor(target: FetchTarget): number {
    return this.largeBatches.get(partitionKey(target)) ?? PARTITION_FETCH_BYTES;
  }

  /** Acts on a partition's error; returns a backoff when the fetch itself failed (0 otherwise). */
  private partitionError(target: FetchTarget, id: string): number {
    if (id === 'OFFSET_OUT_OF_RANGE') {
      target.outOfRange();
    } else if (METADATA_ERRORS.has(id)) {
      this.stale = true;
      this.wake();
    } else if (FORBIDDEN.has(id)) {
      this.events.refused(new KafkaForbiddenError(`${this.where}, topic ${target.topic}`, id, new Error(id)));
    } else {
      return this.events.failed(new FetchError(`${this.where}, ${target.topic}[${target.partition}]`, id));
    }
    return 0;
  }

  private async idle(woken: Promise<void>): Promise<void> {
    if (this.abort.signal.aborted) return;
    await woken;
  }

  private async pause(ms: number): Promise<void> {
    await sleep(ms, undefined, { signal: this.abort.signal }).catch(() => undefined);
  }
}

function errorName(code: number): string {
  return (protocolErrorsCodesById as Record<number, string | undefined>)[code] ?? `error code ${code}`;
}
