import { setTimeout as sleep } from 'node:timers/promises';
import { Admin } from '@platformatic/kafka';
import { Backoff } from '../../core/backoff.js';
import { Drain } from '../../core/drain.js';
import { PgRelayError, errorMessage } from '../../core/errors.js';
import type { RelayEvent } from '../../core/event.js';
import { ReadEvent } from '../../core/read-event.js';
import { Source, type SourceContext } from '../../core/source.js';
import { whenAborted } from '../../core/waiters.js';
import { clientOptions, logBrokerStates } from '../../kafka/client.js';
import type { ExactlyOnceLink, TransactionalSource } from '../../kafka/exactly-once.js';
import { UnknownTopicError, classifyKafkaError } from '../../kafka/errors.js';
import { RecordReader } from '../../kafka/fetch-records.js';
import type { KafkaSourceConfig } from './config.js';
import { DeadLetterWriter } from './dead-letter.js';
import { type Decoder, type SourceMessage, UndecodableMessageError, createDecoder } from './decode.js';
import { type FetchedChunk, Fetcher } from './fetcher.js';
import { ConsumerGroup, CommitRefusedError, type TopicPartition, partitionKey } from './group.js';
import { FetchedMessage } from './message.js';
import { PartitionOffsets } from './offsets.js';
import { AssignedPartition } from './partition.js';

const HEALTH_INTERVAL_MS = 1000;
/**
 * Events per batch handed to the router. A partition's offset moves (and is committed) per batch,
 * so this bounds what a kill -9 makes the next start send again, per partition.
 */
const BATCH_EVENTS = 500;
/** A commit the group refused is tried again this much later (or at once when the group has rejoined). */
const COMMIT_RETRY_MS = 500;
/**
 * When partitions move to another member, how long the source waits for what it handed out of
 * them, so it can commit that before the group hands them over (also bounded by half the session
 * timeout: the member sends no heartbeat meanwhile). What is not delivered by then is abandoned:
 * the next owner reads it again from the committed offset.
 */
const REBALANCE_DRAIN_MS = 10_000;
/** How long the broker waits for every member to rejoin a rebalancing group. */
const REBALANCE_TIMEOUT_MS = 60_000;

/**
 * Consumes topics in a consumer group and hands their messages to the router, decoded per `format`.
 * Offsets are committed per partition as soon as every sink acknowledged every earlier message of
 * that partition (a watermark per partition); undecodable messages count as handled once
 * dead-lettered (or, without `dead_letter_topic`, logged and counted). Rebalances are incremental:
 * partitions that stay with this member keep flowing; one that moves is finished (within a bound)
 * and committed before it is handed over, or abandoned without committing past what is undelivered.
 */
export class KafkaSource extends Source {
  private group: ConsumerGroup | undefined;
  private fetcher: Fetcher | undefined;
  private readonly deadLetters: DeadLetterWriter | undefined;
  /** Dead letters written, and how many of them had to be cut to fit dead_letter_topic. */
  private readonly deadLettered = { written: 0, truncated: 0 };
  private readonly decode: Decoder;
  private readonly offsets: PartitionOffsets;
  private readonly backoff: Backoff;
  private readonly where: string;
  /** Partitions this member owns and fetches. */
  private readonly owned = new Map<string, AssignedPartition>();
  /** Partitions being looked up (their start offsets) before they join `owned`. */
  private readonly assigning = new Set<string>();
  /** Partitions given up whose handed-out messages may still be in flight. */
  private readonly givenUp = new Set<AssignedPartition>();
  private readonly drain = new Drain(() => this.offsets.inFlight === 0);
  private readonly handover = new Drain(() => [...this.givenUp].every((p) => p.progress.inFlight === 0));
  private committing: Promise<void> | undefined;
  private commitTimer: NodeJS.Timeout | undefined;
  /** When the latest commit of delivered offsets went out (Date.now()). */
  private lastCommitAt = 0;
  private healthTimer: NodeJS.Timeout | undefined;
  private inputStopped = false;
  /** From the moment the member learns the group rebalances until it has joined the new generation. */
  private rebalancing = false;
  private readonly abort = new AbortController();
  /** Ends the session at a stop, once the last commit is done: the session's cleanup closes the connections. */
  private readonly sessionEnd = new AbortController();
  private loop: Promise<void> | undefined;
  /** Ends the current session with the error that lost the member its group. */
  private endSession: ((error: unknown) => void) | undefined;

  constructor(
    name: string,
    private readonly config: KafkaSourceConfig,
    context: SourceContext,
    /** exactly_once: offsets are committed in the sink's transactions, with what they delivered. */
    private readonly link?: ExactlyOnceLink,
  ) {
    super(name, 'kafka', context);
    link?.attachSource({ offsetsToCommit: () => this.offsetsToCommit(), rewind: () => this.rewind() });
    this.decode = createDecoder(config.format, name);
    this.offsets = new PartitionOffsets(() => this.scheduleCommit());
    this.backoff = new Backoff({ initialMs: config.retry_initial, maxMs: config.retry_max });
    this.where = `Kafka ${config.brokers.join(',')}, group ${config.group_id}`;
    if (config.dead_letter_topic !== undefined) {
      this.deadLetters = new DeadLetterWriter(config, config.dead_letter_topic, name, this.log);
    }
    this.refreshHealth();
  }

  start(): void {
    this.loop ??= this.run();
    this.healthTimer ??= setInterval(() => this.refreshHealth(), HEALTH_INTERVAL_MS);
    this.healthTimer.unref();
  }

  stopInput(): void {
    this.inputStopped = true;
  }

  async stop(deadline: AbortSignal): Promise<void> {
    this.inputStopped = true;
    await this.drain.until(deadline);
    this.abort.abort();
    clearInterval(this.healthTimer);
    // The session ends after the last commit: its cleanup closes the connections, also under a
    // commit still on its way.
    await Promise.race([this.commit(), whenAborted(deadline)]);
    this.sessionEnd.abort();
    await this.disconnect();
    await this.loop;
    this.refreshHealth();
    if (this.health.state !== 'failed') this.health.set('stopped');
  }

  // ---- connection --------------------------------------------------------------------------------

  /**
   * The supervisor's sessions: connect and join the group, then let the group keep itself joined
   * until the member is lost (the session ends with that error) or the source stops.
   */
  private async run(): Promise<void> {
    const signal = this.abort.signal;
    await this.supervisor({
      initialMs: this.config.retry_initial,
      maxMs: this.config.retry_max,
      signal,
      classify: (error) => this.classify(error),
    }).run((ready) => this.session(ready), { cleanup: () => this.disconnect() });
  }

  private async session(ready: () => void): Promise<'ended'> {
    const ended = new Promise<'ended'>((resolve, reject) => {
      this.endSession = reject;
      void whenAborted(this.sessionEnd.signal).then(() => resolve('ended'));
    });
    // A loss before the join finished surfaces from connect(); one after it, from `ended`.
    ended.catch(() => undefined);
    await this.connect();
    ready();
    return ended;
  }

  private async connect(): Promise<void> {
    const client = clientOptions(this.config);
    const group = new ConsumerGroup({
      client,
      groupId: this.config.group_id,
      sessionTimeout: this.config.session_timeout,
      heartbeatInterval: Math.min(3000, Math.floor(this.config.session_timeout / 3)),
      rebalanceTimeout: Math.max(REBALANCE_TIMEOUT_MS, this.config.session_timeout),
      onRebalancing: () => this.rebalance(true),
      onJoined: () => this.rebalance(false),
      beforeJoin: () => this.handOver(),
      onLost: (error) => this.lost(error),
    });
    this.group = group;
    logBrokerStates(group.consumer, this.log);
    const topics = await this.topics(group);
    const fetcher = new Fetcher(group.consumer, client, this.where, {
      failed: (error) => {
        const delay = this.backoff.next();
        this.retrying(this.classify(error), delay);
        return delay;
      },
      recovered: () => this.recovered(),
      refused: (error) => this.halt(error),
    });
    this.fetcher = fetcher;
    fetcher.start();
    await group.join(topics);
    this.recovered();
    this.reconcile();
  }

  /** The topics to consume: those listed, and those matching topic_pattern now. All must exist. */
  private async topics(group: ConsumerGroup): Promise<string[]> {
    const topics = new Set(this.config.topics);
    if (this.config.topic_pattern !== undefined) {
      const pattern = new RegExp(this.config.topic_pattern);
      const admin = new Admin(clientOptions(this.config));
      try {
        for (const topic of await admin.listTopics()) if (pattern.test(topic)) topics.add(topic);
      } finally {
        await admin.close();
      }
    }
    const metadata = await group.consumer.metadata({ topics: [...topics], forceUpdate: true });
    this.log.debug({ topics: [...metadata.topics.keys()] }, 'topics to consume');
    return [...topics];
  }

  private async disconnect(): Promise<void> {
    const [fetcher, group] = [this.fetcher, this.group];
    this.fetcher = undefined;
    this.group = undefined;
    for (const partition of this.owned.values()) this.giveUp(partition);
    const handedOut = this.offsets.inFlight > 0;
    for (const partition of this.givenUp) this.offsets.release(partition.progress);
    this.givenUp.clear();
    this.drain.check();
    const link = this.link;
    if (link !== undefined && handedOut && !this.abort.signal.aborted) {
      // Out of the group with messages handed out: no transaction may carry them now, also not
      // beside messages of the partitions this member is given when it joins again.
      await link.exclusive(() => link.abort('the source left the consumer group'));
    }
    await fetcher?.stop();
    await group
      ?.close()
      .catch((error: unknown) => this.log.debug({ err: error }, 'leaving the group failed'));
    await this.deadLetters
      ?.close()
      .catch((error: unknown) => this.log.debug({ err: error }, 'disconnect failed'));
  }

  /** The member fell out of the group and could not rejoin: the session ends, and the supervisor decides. */
  private lost(error: unknown): void {
    if (this.abort.signal.aborted) return;
    this.log.warn(
      { err: error },
      `left consumer group ${this.config.group_id}: ${errorMessage(this.classify(error))}`,
    );
    this.endSession?.(error);
  }

  private recovered(): void {
    this.backoff.reset();
    if (this.health.state !== 'failed') this.health.set('running');
  }

  private classify(error: unknown): PgRelayError {
    const classified = classifyKafkaError(error, this.where);
    // A topic the cluster does not know (at start, or deleted since): unlike a sink, a source
    // cannot create it, and waits for it.
    if (classified instanceof UnknownTopicError) {
      return new PgRelayError(
        'PGRELAY_KAFKA_UNKNOWN_TOPIC',
        `${this.where}: a topic of ${this.config.topics.join(', ') || classified.topic} does not exist (${classified.topic}; pgrelay does not create the topics it reads; it retries until they exist)`,
        { cause: error, retriable: true },
      );
    }
    return classified;
  }

  // ---- assignment --------------------------------------------------------------------------------

  private rebalance(rebalancing: boolean): void {
    if (rebalancing && !this.rebalancing) {
      this.log.info(
        { group: this.config.group_id, partitions: this.owned.size },
        `consumer group ${this.config.group_id} is rebalancing: the partitions that stay here keep flowing`,
      );
    }
    this.rebalancing = rebalancing;
    this.reconcile();
    // Commits the group refused while it rebalanced go out now.
    if (!rebalancing && this.offsets.pending) void this.commit();
  }

  /**
   * Brings the partitions fetched in line with what the group assigned: partitions no longer
   * assigned stop at once (their in-flight messages are finished in handOver), new ones start
   * at their committed offsets. Partitions that stay are not touched.
   */
  private reconcile(): void {
    const group = this.group;
    if (group === undefined || this.abort.signal.aborted) return;
    const assigned = new Map(group.assignment.map((p) => [partitionKey(p), p]));
    for (const [key, partition] of this.owned) if (!assigned.has(key)) this.giveUp(partition);
    const added = [...assigned].filter(([key]) => !this.owned.has(key) && !this.assigning.has(key));
    if (added.length > 0)
      void this.take(
        group,
        added.map(([, p]) => p),
      );
    this.scheduleCommit();
    this.refreshHealth();
  }

  private giveUp(partition: AssignedPartition): void {
    const key = partitionKey(partition);
    if (this.owned.get(key) !== partition) return;
    this.owned.delete(key);
    partition.giveUp();
    this.fetcher?.remove(partition);
    this.givenUp.add(partition);
    this.log.info(
      { topic: partition.topic, partition: partition.partition, inFlight: partition.progress.inFlight },
      `partition ${key} moves to another member of group ${this.config.group_id}`,
    );
  }

  /** Starts consuming partitions assigned to this member, from where the group committed. */
  private async take(group: ConsumerGroup, partitions: TopicPartition[]): Promise<void> {
    const keys = partitions.map(partitionKey);
    for (const key of keys) this.assigning.add(key);
    try {
      const starts = await group.startOffsets(partitions, this.config.start);
      const still = new Set(group.assignment.map(partitionKey));
      for (const p of partitions) {
        const key = partitionKey(p);
        const start = starts.get(key);
        if (this.group !== group || !still.has(key) || start === undefined) continue;
        const progress = this.offsets.assign(p.topic, p.partition, start);
        const owned = new AssignedPartition(
          p.topic,
          p.partition,
          progress,
          (q, chunk) => this.relay(q, chunk),
          {
            wantsData: () => this.fetcher?.wake(),
            outOfRange: (q) => void this.outOfRange(q),
          },
        );
        this.owned.set(key, owned);
        this.fetcher?.add(owned);
      }
      this.log.info(
        { group: this.config.group_id, partitions: keys, starts: Object.fromEntries(starts) },
        `consuming ${keys.join(' ')} (group ${this.config.group_id})`,
      );
    } catch (error) {
      if (this.group !== group) return;
      const delay = this.backoff.next();
      this.retrying(this.classify(error), delay);
      await sleep(delay, undefined, { signal: this.abort.signal }).catch(() => undefined);
    } finally {
      for (const key of keys) this.assigning.delete(key);
    }
    this.reconcile();
  }

  /**
   * Runs before the member (re)joins the group, so before the group hands the partitions given up
   * to others: waits (bounded) until their handed-out messages are delivered, commits them, and
   * abandons what is still in flight then, without committing past it.
   */
  private async handOver(): Promise<void> {
    this.rebalancing = true;
    this.reconcile();
    if (this.givenUp.size === 0) return;
    const bound = Math.min(REBALANCE_DRAIN_MS, Math.floor(this.config.session_timeout / 2));
    const deadline = AbortSignal.any([AbortSignal.timeout(bound), this.abort.signal]);
    await this.handover.until(deadline);
    await Promise.race([this.commit(), sleep(bound, undefined, { signal: deadline }).catch(() => undefined)]);
    const link = this.link;
    if (link !== undefined && [...this.givenUp].some((p) => p.progress.inFlight > 0)) {
      // A transaction must never commit their records once they are another member's: abort.
      await link.exclusive(() =>
        link.abort(`partitions moving to another member were not delivered within ${bound} ms`),
      );
    }
    for (const partition of this.givenUp) {
      const abandoned = partition.progress.inFlight;
      if (abandoned > 0) {
        this.log.warn(
          { topic: partition.topic, partition: partition.partition, abandoned },
          `${partitionKey(partition)}: ${abandoned} batch(es) not delivered within ${bound} ms are left to the next owner (read again from offset ${partition.progress.committed})`,
        );
      }
      this.offsets.release(partition.progress);
    }
    this.givenUp.clear();
    this.drain.check();
  }

  /** The partition no longer holds the offset to fetch: resume per `start`, loudly. */
  private async outOfRange(partition: AssignedPartition): Promise<void> {
    const group = this.group;
    if (group === undefined || partition.resetting) return;
    partition.resetting = true;
    try {
      const reset = await group.resetOffsets([partition], this.config.start);
      const offset = reset.get(partitionKey(partition));
      if (offset === undefined || partition.givenUp) return;
      this.log.warn(
        { topic: partition.topic, partition: partition.partition, from: partition.fetchOffset, to: offset },
        `${partitionKey(partition)}: offset ${partition.fetchOffset} is not in the partition (deleted by retention, or past its end): resuming at ${offset} (start = ${this.config.start})`,
      );
      if (offset < partition.position) {
        partition.progress = this.offsets.assign(partition.topic, partition.partition, offset);
      }
      partition.moveTo(offset);
    } catch (error) {
      this.log.warn(
        { err: error },
        `${partitionKey(partition)}: looking up its offsets failed; trying again`,
      );
    } finally {
      partition.resetting = false;
      this.fetcher?.wake();
    }
  }

  // ---- consuming ---------------------------------------------------------------------------------

  /** Hands a chunk's messages to the router in order, stopping when the partition is given up or input stops. */
  private async relay(partition: AssignedPartition, chunk: FetchedChunk): Promise<void> {
    const { topic, partition: index } = partition;
    let events: RelayEvent[] = [];
    let bytes = 0;
    let origin = 0;
    const progress = partition.progress;
    const stopped = () => this.inputStopped || partition.givenUp || partition.progress !== progress;
    /** Hands the events gathered so far to the router; false once the partition stopped. */
    const flush = async (next: number): Promise<boolean> => {
      if (stopped()) return false;
      const ack = progress.track(next, origin);
      partition.position = next;
      if (events.length === 0) {
        ack();
        return true;
      }
      const batchEvents = events;
      this.stats.batches++;
      const dispatched = this.router.dispatch(
        {
          source: this.name,
          events: batchEvents,
          bytes,
          originTimeMs: origin,
          heldAsBytes: batchEvents.every((event) => event instanceof ReadEvent),
        },
        () => {
          this.stats.eventsOut += batchEvents.length;
          ack();
          this.drain.check();
          this.handover.check();
        },
      );
      events = [];
      bytes = 0;
      await dispatched;
      return true;
    };

    try {
      const reader = new RecordReader(chunk.records, partition, chunk.abortedTransactions);
      while (reader.next()) {
        if (reader.offset < partition.position) continue;
        const message = new FetchedMessage(topic, index, reader);
        const size = reader.size;
        this.stats.eventsIn++;
        this.stats.bytes += size;
        let event: RelayEvent;
        try {
          event = this.decode(message);
        } catch (error) {
          if (!(error instanceof UndecodableMessageError)) throw error;
          if (!(await flush(message.offset))) return;
          if (!(await this.setAside(partition, message, error))) return;
          continue;
        }
        if (events.length === 0) origin = message.timestamp;
        events.push(event);
        bytes += 2 * size + 200;
        if (this.debug) this.log.debug({ event }, 'received');
        if (events.length >= BATCH_EVENTS && !(await flush(message.offset + 1))) return;
      }
      if (chunk.nextOffset > partition.position) await flush(chunk.nextOffset);
    } catch (error) {
      // A damaged batch (CorruptRecordBatchError names where) or a bug: the partition cannot go on.
      this.halt(error);
    }
  }

  /**
   * An undecodable message: dead-lettered (retrying while Kafka is unavailable) or logged, and
   * counted. Only then may the partition's offset pass it. False when the partition stops meanwhile.
   */
  private async setAside(
    partition: AssignedPartition,
    message: SourceMessage,
    error: UndecodableMessageError,
  ): Promise<boolean> {
    const where = `${message.topic}[${message.partition}]@${message.offset}`;
    const fields = {
      topic: message.topic,
      partition: message.partition,
      offset: message.offset,
      reason: error.message,
    };
    const ack = partition.progress.track(message.offset + 1, message.timestamp);
    partition.position = message.offset + 1;
    const deadLetters = this.deadLetters;
    if (deadLetters === undefined) {
      this.log.warn(fields, `undecodable message ${where} skipped (no dead_letter_topic): ${error.message}`);
    } else {
      let truncated: boolean;
      try {
        truncated = await this.supervisor({
          initialMs: this.config.retry_initial,
          maxMs: this.config.retry_max,
          signal: AbortSignal.any([this.abort.signal, partition.signal]),
          classify: (e) => this.classify(e),
        }).attempt(() => deadLetters.write(message, error));
      } catch (writeError) {
        if (this.abort.signal.aborted || partition.givenUp) return false;
        this.halt(writeError);
        return false;
      }
      this.deadLettered.written++;
      if (truncated) this.deadLettered.truncated++;
      this.log.warn(
        fields,
        `undecodable message ${where} written to ${deadLetters.topic}${truncated ? ' (value cut to what the topic accepts)' : ''}: ${error.message}`,
      );
    }
    this.stats.drop('undecodable');
    ack();
    this.drain.check();
    this.handover.check();
    return true;
  }

  /** Kafka refuses something for good (a dead letter, reading a topic) or a batch is damaged: stop and hold every offset. */
  private halt(error: unknown): void {
    if (this.health.state === 'failed') return;
    this.fail(error);
    this.inputStopped = true;
    for (const partition of this.owned.values()) partition.giveUp();
  }

  // ---- offsets -----------------------------------------------------------------------------------

  /**
   * A commit goes out once a partition's delivered offset moved, no commit is on its way and
   * commit_interval has passed since the last one; what moves meanwhile goes in the next. After
   * kill -9 a restart reads again only what was delivered since the last commit that reached Kafka.
   * Exactly once, offsets go in a transaction as soon as they move: commit_interval does not apply.
   */
  private scheduleCommit(): void {
    if (this.abort.signal.aborted || this.committing !== undefined || this.commitTimer !== undefined) return;
    if (!this.offsets.pending) return;
    // Exactly once, the config has no commit_interval.
    const wait = Math.max(0, this.lastCommitAt + (this.config.commit_interval ?? 0) - Date.now());
    this.commitTimer = setTimeout(() => void this.commit(), wait);
  }

  /** Commits every partition whose delivered offset moved; commits run one after another. */
  private commit(): Promise<void> {
    clearTimeout(this.commitTimer);
    this.commitTimer = undefined;
    const previous = this.committing ?? Promise.resolve();
    const committing = previous.then(() => this.commitReady());
    this.committing = committing;
    void committing.finally(() => {
      if (this.committing !== committing) return;
      this.committing = undefined;
      this.scheduleCommit();
    });
    return committing;
  }

  private async commitReady(): Promise<void> {
    const link = this.link;
    if (link !== undefined) {
      try {
        await link.exclusive(() => link.commit(this.abort.signal));
      } catch (error) {
        this.log.warn({ err: error }, `committing offsets failed: ${errorMessage(error)}; will retry`);
        this.retryCommit();
      }
      return;
    }
    const pending = this.offsets.take();
    if (pending === undefined) return;
    this.lastCommitAt = Date.now();
    try {
      if (this.group === undefined) throw new CommitRefusedError('not connected', undefined, true);
      await this.group.commit(pending.offsets);
      pending.succeeded();
    } catch (error) {
      pending.failed();
      // Between generations the group takes no commits: they go out again once it has settled.
      const between = error instanceof CommitRefusedError && error.rejoining;
      const level = between ? 'debug' : 'warn';
      this.log[level]({ err: error }, `committing offsets failed: ${errorMessage(error)}; will retry`);
      this.retryCommit();
    }
  }

  private retryCommit(): void {
    if (this.abort.signal.aborted) return;
    clearTimeout(this.commitTimer);
    this.commitTimer = setTimeout(() => void this.commit(), COMMIT_RETRY_MS);
  }

  /** exactly_once: the offsets to commit in the sink's transaction, with this member's generation. */
  private offsetsToCommit(): ReturnType<TransactionalSource['offsetsToCommit']> {
    const group = this.group;
    const memberId = group?.memberId;
    if (group === undefined || memberId === null || memberId === undefined) return undefined;
    const pending = this.offsets.take();
    if (pending === undefined) return undefined;
    return {
      group: {
        groupId: this.config.group_id,
        generationId: group.generation,
        memberId,
        offsets: pending.offsets,
      },
      succeeded: () => pending.succeeded(),
      failed: () => pending.failed(),
    };
  }

  /**
   * exactly_once: a transaction aborted with delivered messages in it. Every partition is read
   * again from its committed offset; what was handed out and not committed is forgotten (the
   * sink dropped it), partitions given up are released.
   */
  private rewind(): void {
    for (const partition of this.givenUp) this.offsets.release(partition.progress);
    this.givenUp.clear();
    for (const partition of this.owned.values()) {
      const start = partition.progress.committed;
      partition.progress = this.offsets.assign(partition.topic, partition.partition, start);
      partition.moveTo(start);
    }
    this.drain.check();
    this.handover.check();
    this.fetcher?.wake();
  }

  private refreshHealth(): void {
    const partitions = this.offsets.report();
    const oldest = this.offsets.oldestOrigin;
    this.health.lag = {
      messages: this.offsets.lag,
      seconds: oldest === undefined ? 0 : Math.max(0, (Date.now() - oldest) / 1000),
    };
    const positions = Object.entries(partitions).map(([key, p]) => `${key}@${p.committed}`);
    this.health.position = positions.length === 0 ? null : positions.join(' ');
    const assignment: Record<string, number[]> = {};
    for (const { topic, partition } of this.group?.assignment ?? [])
      (assignment[topic] ??= []).push(partition);
    this.health.details = {
      group_id: this.config.group_id,
      topics: this.config.topics,
      ...(this.config.topic_pattern === undefined ? {} : { topic_pattern: this.config.topic_pattern }),
      format: this.config.format,
      ...(this.config.dead_letter_topic === undefined
        ? {}
        : { dead_letter_topic: this.config.dead_letter_topic, dead_letters: { ...this.deadLettered } }),
      assignment,
      rebalancing: this.rebalancing,
      partitions,
    };
  }
}
