import {
  COOPERATIVE_STICKY_ASSIGNOR,
  ConnectionPool,
  Consumer,
  type BaseOptions,
  type GroupAssignment,
  type Connection,
  offsetCommitV8,
  offsetFetchV8,
} from '@platformatic/kafka';
import { setTimeout as sleep } from 'node:timers/promises';
import { PgRelayError } from '../../core/errors.js';
import { protocolError } from '../../kafka/errors.js';
import type { CommitOffset } from './offsets.js';

/** A partition of a topic. */
export interface TopicPartition {
  topic: string;
  partition: number;
}

export function partitionKey({ topic, partition }: TopicPartition): string {
  return `${topic}/${partition}`;
}

/** ListOffsets timestamps: the first offset a partition still holds, and the next one it will write. */
const EARLIEST = -2n;
const LATEST = -1n;

/**
 * How long a partition's start waits for a transaction holding its offsets to end: its producer
 * ends it, or its coordinator aborts it after the transaction timeout (pgrelay's: 15 s).
 */
const UNSTABLE_RETRY_MS = 200;
const UNSTABLE_ATTEMPTS = 600;

/** Answers to a commit saying the group is between generations: it is committed again once joined. */
const BETWEEN_GENERATIONS = new Set([
  'REBALANCE_IN_PROGRESS',
  'ILLEGAL_GENERATION',
  'UNKNOWN_MEMBER_ID',
  'FENCED_INSTANCE_ID',
]);

/** A commit the group did not take; `rejoining` when it only has to wait for the group to settle. */
export class CommitRefusedError extends PgRelayError {
  constructor(
    message: string,
    cause: unknown,
    readonly rejoining: boolean,
  ) {
    super('PGRELAY_KAFKA_COMMIT', message, { cause, retriable: true });
  }
}

export interface GroupOptions {
  client: BaseOptions;
  groupId: string;
  sessionTimeout: number;
  heartbeatInterval: number;
  rebalanceTimeout: number;
  /** The group is rebalancing; partitions this member gave up are no longer in `assignment`. */
  onRebalancing(): void;
  /** The member (re)joined the group: `assignment` holds its partitions for the new generation. */
  onJoined(): void;
  /**
   * Runs before every JoinGroup request the member sends: partitions the member gave up are
   * finished (or abandoned) here, because the group hands them to others only after it rejoined.
   */
  beforeJoin(): Promise<void>;
  /** The member could not rejoin the group: the source starts over. */
  onLost(error: unknown): void;
}

/**
 * Membership of a consumer group through @platformatic/kafka's Consumer, with incremental
 * (cooperative-sticky) rebalancing: when members come or go, only partitions that move stop.
 * Records are not fetched here (see fetcher.ts); offsets are committed here with OffsetCommit
 * requests of our own, because the library answers a commit refused mid-rebalance by joining the
 * group again, which would start yet another rebalance. They go over a connection of their own:
 * on the library's, they would wait behind a JoinGroup, which the broker holds until every member
 * has rejoined, while the partitions that stay keep delivering.
 */
export class ConsumerGroup {
  readonly consumer: Consumer;
  private readonly commits: ConnectionPool;

  constructor(private readonly options: GroupOptions) {
    this.commits = new ConnectionPool(`${options.client.clientId}-commit`, options.client);
    this.consumer = new Consumer({
      ...options.client,
      groupId: options.groupId,
      sessionTimeout: options.sessionTimeout,
      heartbeatInterval: options.heartbeatInterval,
      rebalanceTimeout: options.rebalanceTimeout,
      protocols: [{ name: COOPERATIVE_STICKY_ASSIGNOR, version: 3 }],
      protocolsMetadata: async () => {
        await options.beforeJoin();
        return Buffer.alloc(0);
      },
      autocommit: false,
    });
    this.consumer.on('consumer:group:join', () => options.onJoined());
    this.consumer.on('consumer:group:rebalance', () => options.onRebalancing());
    // The library reports a failed rejoin as an 'error' event: without a listener it would throw.
    this.consumer.on('error', (error: unknown) => options.onLost(error));
  }

  /** The partitions this member owns now (the library updates them as the group rebalances). */
  get assignment(): TopicPartition[] {
    const assignments: GroupAssignment[] = this.consumer.assignments ?? [];
    return assignments.flatMap(({ topic, partitions }) =>
      partitions.map((partition) => ({ topic, partition })),
    );
  }

  get generation(): number {
    return this.consumer.generationId;
  }

  /** The member id the group gave this member, null before it joined. */
  get memberId(): string | null {
    return this.consumer.memberId;
  }

  /** Joins the group for `topics`; resolves once the first assignment is known. */
  async join(topics: string[]): Promise<void> {
    for (const topic of topics) this.consumer.topics.track(topic);
    await this.consumer.joinGroup({});
  }

  /**
   * Where each partition resumes: the group's committed offset, or for a partition the group never
   * committed, its first offset (`earliest`) or its end (`latest`).
   */
  async startOffsets(
    partitions: TopicPartition[],
    start: 'earliest' | 'latest',
  ): Promise<Map<string, number>> {
    const committed = await this.committedOffsets(partitions);
    const offsets = new Map<string, number>();
    const missing: TopicPartition[] = [];
    for (const p of partitions) {
      const offset = committed.get(p.topic)?.[p.partition];
      if (offset === undefined || offset < 0n) missing.push(p);
      else offsets.set(partitionKey(p), Number(offset));
    }
    for (const [key, offset] of await this.resetOffsets(missing, start)) offsets.set(key, offset);
    return offsets;
  }

  /**
   * The group's committed offsets, stable ones only (KIP-447): while a transaction that commits
   * offsets of these partitions is open (its producer may have died), the coordinator answers
   * UNSTABLE_OFFSET_COMMIT and this asks again, so a partition never resumes from an offset that
   * such a transaction is about to move.
   */
  private async committedOffsets(partitions: TopicPartition[]): Promise<Map<string, bigint[]>> {
    const topics = [...groupByTopic(partitions)].map(([name, partitionIndexes]) => ({
      name,
      partitionIndexes,
    }));
    for (let attempt = 0; ; attempt++) {
      try {
        const answer = await offsetFetchV8.api.async(
          await this.coordinator(),
          [{ groupId: this.options.groupId, memberEpoch: -1, topics }],
          true,
        );
        const committed = new Map<string, bigint[]>();
        for (const topic of answer.groups[0]?.topics ?? []) {
          const list: bigint[] = [];
          for (const p of topic.partitions) list[p.partitionIndex] = p.committedOffset;
          committed.set(topic.name, list);
        }
        return committed;
      } catch (error) {
        if (protocolError(error) !== 'UNSTABLE_OFFSET_COMMIT' || attempt >= UNSTABLE_ATTEMPTS) throw error;
        await sleep(UNSTABLE_RETRY_MS);
      }
    }
  }

  /** A connection of the commit pool to the group's coordinator. */
  private async coordinator(): Promise<Connection> {
    const consumer = this.consumer;
    const coordinator = await consumer.findGroupCoordinator();
    const metadata = await consumer.metadata({ topics: [] });
    const broker = metadata.brokers.get(coordinator);
    if (broker === undefined) throw new Error(`coordinator ${coordinator} is not among the known brokers`);
    return this.commits.get(broker);
  }

  /** Each partition's first offset (`earliest`) or end (`latest`). */
  async resetOffsets(partitions: TopicPartition[], to: 'earliest' | 'latest'): Promise<Map<string, number>> {
    const offsets = new Map<string, number>();
    if (partitions.length === 0) return offsets;
    const byTopic = groupByTopic(partitions);
    const listed = await this.consumer.listOffsets({
      topics: [...byTopic.keys()],
      partitions: Object.fromEntries(byTopic),
      timestamp: to === 'earliest' ? EARLIEST : LATEST,
    });
    for (const p of partitions) {
      const offset = listed.get(p.topic)?.[p.partition];
      if (offset !== undefined) offsets.set(partitionKey(p), Number(offset));
    }
    return offsets;
  }

  /**
   * Commits offsets in the member's current generation. Rejects with CommitRefusedError when the
   * group did not take them; `rejoining` then means they are to be committed again once it settled.
   */
  async commit(offsets: CommitOffset[]): Promise<void> {
    const consumer = this.consumer;
    const memberId = consumer.memberId;
    if (memberId === null) {
      throw new CommitRefusedError(`group ${this.options.groupId}: not a member yet`, undefined, true);
    }
    const generation = consumer.generationId;
    try {
      const connection = await this.coordinator();
      const topics = [...groupByTopic(offsets, (o) => o)].map(([name, list]) => ({
        name,
        partitions: list.map((o) => ({
          partitionIndex: o.partition,
          committedOffset: BigInt(o.offset),
          committedLeaderEpoch: -1,
        })),
      }));
      await offsetCommitV8.api.async(connection, this.options.groupId, generation, memberId, null, topics);
    } catch (error) {
      const id = protocolError(error);
      throw new CommitRefusedError(
        `group ${this.options.groupId}: committing offsets failed: ${id ?? (error as Error).message}`,
        error,
        id !== undefined && BETWEEN_GENERATIONS.has(id),
      );
    }
  }

  /** Leaves the group (its partitions go to the other members at once) and disconnects. */
  async close(): Promise<void> {
    await this.commits.close().catch(() => undefined);
    await this.consumer.close(true);
  }
}

function groupByTopic<T extends TopicPartition, V = number>(
  partitions: T[],
  pick: (p: T) => V = (p) => p.partition as V,
): Map<string, V[]> {
  const byTopic = new Map<string, V[]>();
  for (const p of partitions) {
    const list = byTopic.get(p.topic);
    if (list === undefined) byTopic.set(p.topic, [pick(p)]);
    else list.push(pick(p));
  }
  return byTopic;
}
