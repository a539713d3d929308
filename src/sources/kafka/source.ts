import { setTimeout as sleep } from 'node:timers/promises';
import type { Batch, Consumer, EachBatchPayload, IMemberAssignment, Kafka, KafkaMessage } from 'kafkajs';
import { Backoff, retry } from '../../core/backoff.js';
import { PgRelayError, errorMessage, isRetriable } from '../../core/errors.js';
import type { RelayEvent } from '../../core/event.js';
import { Drain } from '../../core/drain.js';
import { Source, type SourceContext } from '../../core/source.js';
import { createKafka, credentialsProblem, isForbidden, protocolType } from './kafkajs-client.js';
import type { KafkaSourceConfig } from './config.js';
import { DeadLetterWriter } from './dead-letter.js';
import { type Decoder, type SourceMessage, UndecodableMessageError, createDecoder } from './decode.js';
import { PartitionOffsets, type PartitionProgress } from './offsets.js';

/** Partitions whose batches are decoded and handed to the router at the same time. */
const PARTITIONS_CONCURRENTLY = 8;
/** Delivered offsets are committed at most this often (one request covers every partition that moved). */
const COMMIT_INTERVAL_MS = 100;
const HEALTH_INTERVAL_MS = 1000;
/** A fetch waits this long for data: also how long a stop may wait for a fetch in progress. */
const FETCH_WAIT_MS = 1000;
/**
 * On a rebalance, how long the source waits for its in-flight batches so it can commit them before
 * giving its partitions up (well under kafkajs's 60 s rebalance timeout). What is not delivered by
 * then is abandoned: the next owner reads it again from the committed offset.
 */
const REBALANCE_DRAIN_MS = 10_000;
/** Answers to a heartbeat or commit after which kafkajs joins the group again. */
const REJOIN = new Set([
  'REBALANCE_IN_PROGRESS',
  'ILLEGAL_GENERATION',
  'UNKNOWN_MEMBER_ID',
  'NOT_COORDINATOR_FOR_GROUP',
]);
/** Errors that are bugs, not outages: retrying them would loop forever. */
const PROGRAMMING_ERRORS = new Set(['TypeError', 'RangeError', 'ReferenceError', 'SyntaxError']);

/**
 * Consumes topics in a consumer group and hands their messages to the router, decoded per `format`.
 * Offsets are committed per partition only up to where every sink acknowledged every earlier
 * message of that partition (a watermark per partition); undecodable messages count as handled
 * once dead-lettered (or, without `dead_letter_topic`, logged and counted). A rebalance finishes
 * in-flight batches when it can, commits them, and otherwise abandons them without committing.
 */
export class KafkaSource extends Source {
  private readonly kafka: Kafka;
  private consumer: Consumer | undefined;
  private readonly deadLetters: DeadLetterWriter | undefined;
  private readonly decode: Decoder;
  private readonly offsets: PartitionOffsets;
  private readonly heartbeatMs: number;
  private readonly backoff: Backoff;
  private assignment: IMemberAssignment = {};
  /** Origin time of each batch in flight, in hand-out order, for lag.seconds. */
  private readonly inFlightOrigins = new Map<number, number>();
  private nextBatch = 0;
  private readonly drain = new Drain(() => this.offsets.inFlight === 0);
  private committing: Promise<void> = Promise.resolve();
  private commitTimer: NodeJS.Timeout | undefined;
  private healthTimer: NodeJS.Timeout | undefined;
  private rebalanceDrain: Promise<void> | undefined;
  private inputStopped = false;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(
    name: string,
    private readonly config: KafkaSourceConfig,
    context: SourceContext,
  ) {
    super(name, 'kafka', context);
    this.kafka = createKafka(config, this.log);
    this.decode = createDecoder(config.format, name);
    this.offsets = new PartitionOffsets(() => this.scheduleCommit());
    this.heartbeatMs = Math.min(3000, Math.floor(config.session_timeout / 3));
    this.backoff = new Backoff({ initialMs: config.retry_initial, maxMs: config.retry_max });
    if (config.dead_letter_topic !== undefined) {
      this.deadLetters = new DeadLetterWriter(this.kafka, config.dead_letter_topic, name);
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
    await this.commit();
    await this.disconnect();
    await this.loop;
    this.refreshHealth();
    if (this.health.state !== 'failed') this.health.set('stopped');
  }

  // ---- connection --------------------------------------------------------------------------------

  /** Connects and joins the group, retrying with backoff; from then on kafkajs restarts itself after crashes. */
  private async run(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      try {
        await this.consume();
        return;
      } catch (error) {
        await this.disconnect();
        if (signal.aborted) return;
        const classified = this.classify(error);
        if (!isRetriable(classified)) {
          this.fail(classified);
          return;
        }
        await this.waitToRetry(classified);
      }
    }
  }

  private async waitToRetry(error: unknown): Promise<void> {
    const delay = this.backoff.next();
    this.retrying(error, delay);
    await sleep(delay, undefined, { signal: this.abort.signal }).catch(() => undefined);
  }

  private async consume(): Promise<void> {
    const consumer = this.kafka.consumer({
      groupId: this.config.group_id,
      sessionTimeout: this.config.session_timeout,
      heartbeatInterval: this.heartbeatMs,
      allowAutoTopicCreation: false,
      maxWaitTimeInMs: FETCH_WAIT_MS,
    });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, (event) => this.joined(event.payload.memberAssignment));
    consumer.on(consumer.events.CRASH, (event) => this.crashed(event.payload.error, event.payload.restart));
    // kafkajs noticed the rebalance itself (between batches): the group still takes commits of the
    // current generation until every member has rejoined.
    consumer.on(consumer.events.REBALANCING, () => void this.finishBeforeRebalance());
    await consumer.connect();
    const topics: (string | RegExp)[] = [...this.config.topics];
    if (this.config.topic_pattern !== undefined) topics.push(new RegExp(this.config.topic_pattern));
    await consumer.subscribe({ topics, fromBeginning: this.config.start === 'earliest' });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: PARTITIONS_CONCURRENTLY,
      eachBatch: (payload) => this.eachBatch(payload),
    });
  }

  private async disconnect(): Promise<void> {
    const consumer = this.consumer;
    this.consumer = undefined;
    await consumer
      ?.disconnect()
      .catch((error: unknown) => this.log.debug({ err: error }, 'disconnect failed'));
    await this.deadLetters
      ?.close()
      .catch((error: unknown) => this.log.debug({ err: error }, 'disconnect failed'));
  }

  /** A new generation of the group: partitions may have moved, so earlier progress is dropped. */
  private joined(assignment: IMemberAssignment): void {
    this.offsets.newGeneration();
    this.backoff.reset();
    this.assignment = assignment;
    this.drain.release();
    this.health.set('running');
    const partitions = Object.entries(assignment).map(([topic, list]) => `${topic}[${list.join(',')}]`);
    this.log.info(
      { group: this.config.group_id, assignment },
      `joined consumer group ${this.config.group_id}: ${partitions.join(' ') || 'no partitions assigned'}`,
    );
    this.refreshHealth();
  }

  /** kafkajs restarts itself after retriable crashes; after others it gives up, and so do we unless it was an outage. */
  private crashed(error: Error, restarting: boolean): void {
    if (this.abort.signal.aborted) return;
    const classified = this.classify(error);
    if (restarting) {
      this.retrying(classified, (error as { retryTime?: number }).retryTime ?? 0);
    } else if (isRetriable(classified)) {
      this.loop = this.loop?.then(async () => {
        await this.waitToRetry(classified);
        await this.disconnect();
        await this.run();
      });
    } else {
      this.fail(classified);
    }
  }

  private classify(error: unknown): unknown {
    if (error instanceof PgRelayError) return error;
    const where = `Kafka ${this.config.brokers.join(',')}, group ${this.config.group_id}`;
    const credentials = credentialsProblem(error, where);
    if (credentials !== undefined) return credentials;
    if (isForbidden(error)) {
      return new PgRelayError(
        'PGRELAY_KAFKA_FORBIDDEN',
        `${where}: ${protocolType(error)}: ${errorMessage(error)}`,
        {
          cause: error,
        },
      );
    }
    if (error instanceof Error && PROGRAMMING_ERRORS.has(error.name)) return error;
    if (protocolType(error) === 'UNKNOWN_TOPIC_OR_PARTITION') {
      return new PgRelayError(
        'PGRELAY_KAFKA_UNKNOWN_TOPIC',
        `${where}: a topic of ${this.config.topics.join(', ')} does not exist (pgrelay does not create the topics it reads; it retries until they exist)`,
        { cause: error, retriable: true },
      );
    }
    return new PgRelayError('PGRELAY_KAFKA_UNAVAILABLE', `${where}: ${errorMessage(error)}`, {
      cause: error,
      retriable: true,
    });
  }

  // ---- consuming ---------------------------------------------------------------------------------

  /**
   * One fetched batch of one partition. kafkajs fetches a partition's next batch only after this
   * returns, so a partition's messages reach the router in order while partitions run side by side.
   */
  private async eachBatch(payload: EachBatchPayload): Promise<void> {
    // Once input has stopped the partition is paused: kafkajs would fetch the batch again at once,
    // over and over, while the sinks drain.
    if (this.inputStopped || !(await this.relay(payload))) {
      payload.pause();
      return;
    }
    payload.resolveOffset(payload.batch.lastOffset());
    await this.beat(payload);
  }

  /** Hands a batch's messages to the router in order; false when input stopped part way. */
  private async relay(payload: EachBatchPayload): Promise<boolean> {
    const { batch } = payload;
    const start = BigInt((batch as Batch & { fetchedOffset: string }).fetchedOffset);
    const progress = this.offsets.partition(batch.topic, batch.partition, start);
    progress.highWatermark = BigInt(batch.highWatermark);

    let events: RelayEvent[] = [];
    let bytes = 0;
    let origin = 0;
    /** Hands the events gathered so far to the router; false once input has stopped. */
    const flush = async (next: bigint): Promise<boolean> => {
      if (this.inputStopped) return false;
      const ack = progress.track(next);
      if (events.length === 0) {
        ack();
        return true;
      }
      const batchEvents = events;
      const id = this.nextBatch++;
      this.inFlightOrigins.set(id, origin);
      this.stats.batches++;
      const dispatched = this.router.dispatch(
        { source: this.name, events: batchEvents, bytes, originTimeMs: origin },
        () => {
          this.inFlightOrigins.delete(id);
          this.stats.eventsOut += batchEvents.length;
          ack();
          this.drain.check();
        },
      );
      events = [];
      bytes = 0;
      await this.whileBeating(dispatched, payload);
      return true;
    };

    for (const kafkaMessage of batch.messages) {
      const message = sourceMessage(batch, kafkaMessage);
      const size = (message.value?.length ?? 0) + (message.key?.length ?? 0);
      this.stats.eventsIn++;
      this.stats.bytes += size;
      let event: RelayEvent;
      try {
        event = this.decode(message);
      } catch (error) {
        if (!(error instanceof UndecodableMessageError)) throw error;
        if (!(await flush(BigInt(message.offset)))) return false;
        if (!(await this.setAside(progress, message, error, payload))) return false;
        continue;
      }
      if (events.length === 0) origin = Number(message.timestamp);
      events.push(event);
      bytes += 2 * size + 200;
      if (this.debug) this.log.debug({ event }, 'received');
    }
    return flush(BigInt(batch.lastOffset()) + 1n);
  }

  /**
   * An undecodable message: dead-lettered (retrying while Kafka is unavailable) or logged, and
   * counted. Only then may the partition's offset pass it. False when the source stops meanwhile.
   */
  private async setAside(
    progress: PartitionProgress,
    message: SourceMessage,
    error: UndecodableMessageError,
    payload: EachBatchPayload,
  ): Promise<boolean> {
    const where = `${message.topic}[${message.partition}]@${message.offset}`;
    const fields = {
      topic: message.topic,
      partition: message.partition,
      offset: message.offset,
      reason: error.message,
    };
    const ack = progress.track(BigInt(message.offset) + 1n);
    const deadLetters = this.deadLetters;
    if (deadLetters === undefined) {
      this.log.warn(fields, `undecodable message ${where} skipped (no dead_letter_topic): ${error.message}`);
    } else {
      try {
        await this.whileBeating(
          retry(() => deadLetters.write(message, error), {
            initialMs: this.config.retry_initial,
            maxMs: this.config.retry_max,
            signal: this.abort.signal,
            onRetry: (e, delay) => this.retrying(e, delay),
          }),
          payload,
        );
      } catch (writeError) {
        if (this.abort.signal.aborted) return false;
        if (REJOIN.has(protocolType(writeError) ?? '')) throw writeError;
        this.halt(writeError);
        return false;
      }
      if (this.health.state === 'retrying') this.health.set('running');
      this.log.warn(fields, `undecodable message ${where} written to ${deadLetters.topic}: ${error.message}`);
    }
    this.stats.drop('undecodable');
    ack();
    return true;
  }

  /** Kafka refuses the dead letter for good: stop consuming and hold every offset behind the message. */
  private halt(error: unknown): void {
    this.fail(error);
    this.inputStopped = true;
    // Not awaited: stopping waits for the batch in progress, which is the caller.
    void this.consumer
      ?.stop()
      .catch((stopError: unknown) => this.log.debug({ err: stopError }, 'stop failed'));
  }

  /**
   * kafkajs sends heartbeats only between batches; a batch waiting for sink capacity or a dead
   * letter keeps the membership alive here, and leaves at once when the group rebalances.
   */
  private async whileBeating<T>(work: Promise<T>, payload: EachBatchPayload): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const rebalanced = new Promise<never>((_, reject) => {
      timer = setInterval(() => {
        this.beat(payload).catch((error: Error) => {
          if (REJOIN.has(protocolType(error) ?? '')) reject(error);
          else this.log.debug({ err: error }, 'heartbeat failed');
        });
      }, this.heartbeatMs);
    });
    try {
      return await Promise.race([work, rebalanced]);
    } finally {
      clearInterval(timer);
    }
  }

  /** A heartbeat; when it says the group is rebalancing, in-flight batches are finished and committed first. */
  private async beat(payload: EachBatchPayload): Promise<void> {
    try {
      await payload.heartbeat();
    } catch (error) {
      if (protocolType(error) === 'REBALANCE_IN_PROGRESS') await this.finishBeforeRebalance();
      throw error;
    }
  }

  private finishBeforeRebalance(): Promise<void> {
    this.rebalanceDrain ??= (async () => {
      this.log.info(
        { inFlight: this.offsets.inFlight },
        'consumer group is rebalancing: committing what the sinks acknowledge before giving partitions up',
      );
      await this.drain.until(AbortSignal.any([AbortSignal.timeout(REBALANCE_DRAIN_MS), this.abort.signal]));
      await this.commit();
    })().finally(() => {
      this.rebalanceDrain = undefined;
    });
    return this.rebalanceDrain;
  }

  // ---- offsets -----------------------------------------------------------------------------------

  private scheduleCommit(): void {
    if (this.abort.signal.aborted) return;
    this.commitTimer ??= setTimeout(() => void this.commit(), COMMIT_INTERVAL_MS);
  }

  /** Commits every partition whose delivered offset moved; commits run one after another. */
  private commit(): Promise<void> {
    clearTimeout(this.commitTimer);
    this.commitTimer = undefined;
    this.committing = this.committing.then(() => this.commitReady());
    return this.committing;
  }

  private async commitReady(): Promise<void> {
    const pending = this.offsets.take();
    if (pending === undefined) return;
    try {
      if (this.consumer === undefined) throw new Error('not connected');
      await this.consumer.commitOffsets(pending.offsets);
      pending.succeeded();
    } catch (error) {
      pending.failed();
      const level = REJOIN.has(protocolType(error) ?? '') ? 'debug' : 'warn';
      this.log[level]({ err: error }, `committing offsets failed: ${errorMessage(error)}; will retry`);
      if (!this.abort.signal.aborted) this.scheduleCommit();
    }
  }

  private refreshHealth(): void {
    const partitions = this.offsets.report();
    const oldest = this.inFlightOrigins.values().next();
    this.health.lag = {
      messages: this.offsets.lag,
      seconds: oldest.done ? 0 : Math.max(0, (Date.now() - oldest.value) / 1000),
    };
    const positions = Object.entries(partitions).map(([key, p]) => `${key}@${p.committed}`);
    this.health.position = positions.length === 0 ? null : positions.join(' ');
    this.health.details = {
      group_id: this.config.group_id,
      topics: this.config.topics,
      ...(this.config.topic_pattern === undefined ? {} : { topic_pattern: this.config.topic_pattern }),
      format: this.config.format,
      ...(this.config.dead_letter_topic === undefined
        ? {}
        : { dead_letter_topic: this.config.dead_letter_topic }),
      assignment: this.assignment,
      partitions,
    };
  }
}

function sourceMessage(batch: Batch, message: KafkaMessage): SourceMessage {
  return {
    topic: batch.topic,
    partition: batch.partition,
    offset: message.offset,
    key: message.key ?? null,
    value: message.value ?? null,
    headers: message.headers,
    timestamp: message.timestamp,
  };
}
