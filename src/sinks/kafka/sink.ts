import { errorMessage } from '../../core/errors.js';
import { type RelayEvent, routingName } from '../../core/event.js';
import { encodeEvent } from '../../core/encoding.js';
import { type HandlerError, type SinkRecord, describeEvent } from '../../core/handler.js';
import { Sink, type SinkContext, type SinkSettings } from '../../core/sink.js';
import {
  KafkaForbiddenError,
  KafkaRejectedError,
  UnknownTopicError,
  classifyKafkaError,
} from '../../kafka/errors.js';
import type { ExactlyOnceLink } from '../../kafka/exactly-once.js';
import { KafkaProducer, type OutgoingBatch } from '../../kafka/producer.js';
import { DEFAULT_MAX_MESSAGE_BYTES, TopicAdmin, type TopicSettings } from '../../kafka/topics.js';
import type { KafkaSinkConfig } from './config.js';
import { type DeadLetter, deadLetterRecord } from '../../kafka/dead-letter.js';
import { eventCoordinates } from './dead-letters.js';
import { MessageTooLargeError } from './errors.js';
import { BatchEncoder, DeliveryPlan, type TopicTarget } from './requests.js';
import { TopicRouter } from './topics.js';

const TOO_LARGE = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE']);
/** Answers meaning the broker lost track of the producer's sequence: start over under a new producer id. */
const PRODUCER_STATE = new Set([
  'OUT_OF_ORDER_SEQUENCE_NUMBER',
  'UNKNOWN_PRODUCER_ID',
  'INVALID_PRODUCER_EPOCH',
  // Transactional: the coordinator aborted the open transaction (its timeout) and moved the epoch on.
  'PRODUCER_FENCED',
]);
const FORBIDDEN = new Set(['TOPIC_AUTHORIZATION_FAILED', 'CLUSTER_AUTHORIZATION_FAILED']);
/** What to do about a topic the broker neither has nor creates on first use. */
const UNKNOWN_TOPIC_HINT =
  "the broker does not create topics on first use, auto.create.topics.enable=false: create it, or set the sink's create_topics so pgrelay does";
/** How often a sink looks again for the topics its config names that were missing. */
const MISSING_TOPICS_LOOK_AGAIN_MS = 30_000;
/** How long a topic the broker creates on first use may take to get its partitions. */
const UNKNOWN_TOPIC_GRACE_MS = 15_000;

/**
 * Produces records to Kafka. A batch is acknowledged to the sources only after Kafka acknowledged it
 * (acks = all by default, produced idempotently); until then it is retried with backoff, so a broker
 * outage holds positions instead of dropping data. Message key = the event key, on the partition the
 * Java client would choose, so a row's changes keep their order.
 */
export class KafkaSink extends Sink {
  private readonly producer: KafkaProducer;
  private readonly admin: TopicAdmin;
  private readonly encoder: BatchEncoder;
  private readonly topics: TopicRouter;
  private readonly targets = new Map<string, TopicTarget>();
  private readonly unmappedSeen = new Set<string>();
  private readonly where: string;
  /** The delivery being written, kept so that a retry of it resumes where it stopped. */
  private plan: DeliveryPlan | undefined;
  /** Batches were stamped and may not all have been written: sequences go on from a new producer id. */
  private unsettled = false;
  private readonly deadLetters = { oversize: 0, truncated: 0 };
  /** Topics the config names that did not exist at open and will not be created on first write. */
  private readonly missingTopics = new Set<string>();
  private lookedUpNamedTopics = false;
  private missingTopicsTimer: NodeJS.Timeout | undefined;

  constructor(
    name: string,
    private readonly config: KafkaSinkConfig,
    settings: SinkSettings,
    context: SinkContext,
    /** Set when the sink's one source relays exactly once: every delivery is a transaction. */
    private readonly link?: ExactlyOnceLink,
  ) {
    super(name, 'kafka', config.sources, settings, context);
    this.where = `Kafka ${config.brokers.join(',')}`;
    this.producer = new KafkaProducer(
      config,
      config.acks,
      config.request_timeout,
      this.where,
      this.log,
      link?.transactionalId,
      link?.transactionTimeoutMs,
    );
    link?.attachSink({
      transaction: this.producer.transaction,
      discard: () => {
        this.releasePlan();
        // The aborted transaction's epoch is void: the next delivery starts under a new one.
        this.unsettled = true;
        this.discardQueued();
      },
    });
    this.admin = new TopicAdmin(config);
    this.encoder = new BatchEncoder(config.compression, 2 * settings.batch.bytes + (1 << 20));
    this.topics = new TopicRouter(config.topic_map, config.topic_routes, config.topic_fallback);
    this.health.details = {
      brokers: config.brokers,
      dead_letters: this.deadLetters,
      ...(link === undefined ? {} : { transactional_id: link.transactionalId }),
    };
  }

  protected override get wholeBatches(): boolean {
    return this.link !== undefined;
  }

  protected override exclusively(delivery: () => Promise<void>): Promise<void> {
    return this.link === undefined ? delivery() : this.link.exclusive(delivery);
  }

  /** Exactly once: the delivery's records commit together with the offsets they complete. */
  protected override async delivered(signal: AbortSignal): Promise<void> {
    try {
      await this.link?.commit(signal);
    } catch (error) {
      throw this.classify(error);
    }
  }

  protected async open(): Promise<void> {
    try {
      await this.producer.open();
    } catch (error) {
      throw this.classify(error);
    }
    if (!this.lookedUpNamedTopics) {
      this.lookedUpNamedTopics = true;
      await this.lookUpNamedTopics();
    }
  }

  /**
   * Looks up the topics the config names (topic_fallback, topic_map, topic_routes) as the sink
   * opens, so its first delivery need not, and reports one that does not exist and that nothing will
   * create on first write (the broker's auto.create.topics.enable is false and create_topics is not
   * set) before any event is routed there: in /status (`missing_topics`), the log and
   * pgrelay_sink_missing_topics. It creates nothing; on any other error the first delivery looks.
   */
  private async lookUpNamedTopics(): Promise<void> {
    const named = this.topics.namedTopics();
    if (named.length === 0) return;
    const existing = await this.admin.existingTopics();
    if (existing === undefined) return;
    const found = named.filter((name) => existing.has(name));
    const missing = named.filter((name) => !existing.has(name));
    if (found.length > 0) {
      try {
        const counts = await this.producer.partitionCounts(found, false);
        for (const name of found) if (counts.get(name)! > 0) await this.target(name, counts.get(name)!);
      } catch {
        // Deleted meanwhile, or the broker went away: the first delivery looks again.
      }
    }
    if (missing.length === 0 || this.config.create_topics !== undefined) return;
    if ((await this.admin.brokerCreatesTopics()) !== false) return;
    for (const name of missing) this.missingTopics.add(name);
    this.showMissingTopics();
    this.lookAgainForMissingTopics();
    this.log.warn(
      { topics: missing },
      `sink ${this.name}: topic ${missing.join(', ')} does not exist, and ${UNKNOWN_TOPIC_HINT}; events routed there wait until it exists`,
    );
  }

  private showMissingTopics(): void {
    if (this.missingTopics.size > 0) this.health.details.missing_topics = [...this.missingTopics];
    else delete this.health.details.missing_topics;
  }

  /** A missing topic created while no event goes there leaves the list too: looked for again, in a while. */
  private lookAgainForMissingTopics(): void {
    this.missingTopicsTimer = setTimeout(() => {
      void (async () => {
        const existing = await this.admin.existingTopics();
        for (const name of this.missingTopics) if (existing?.has(name)) this.missingTopics.delete(name);
        this.showMissingTopics();
        if (this.missingTopics.size > 0 && this.missingTopicsTimer !== undefined)
          this.lookAgainForMissingTopics();
      })();
    }, MISSING_TOPICS_LOOK_AGAIN_MS);
    this.missingTopicsTimer.unref();
  }

  protected async write(records: SinkRecord[], signal: AbortSignal): Promise<number> {
    await this.open();
    // A retry of the same delivery sends only what the broker has not acknowledged, as it was.
    let plan = this.plan;
    if (plan?.records !== records) {
      if (plan !== undefined) this.encoder.release(plan);
      plan = this.plan = await this.planFor(records);
      this.encoder.encode(plan);
    }
    // Before the plan's first send, also when an earlier attempt failed to get a new producer id.
    if (plan.batches.every((outgoing) => !outgoing.batch.sealed)) await this.settle();
    const failure = await this.send(plan, signal);
    const bytes = plan.bytes;
    this.encoder.release(plan);
    this.plan = undefined;
    if (failure !== undefined) throw failure;
    return bytes;
  }

  /**
   * Sends a plan until every batch is acknowledged. A batch refused for good is dealt with, and what
   * is not yet written encoded again under a new producer id: records refused as too large in
   * smaller batches, or alone (see oversize); after the broker lost the producer's sequence, as they
   * were. Returns the error the sink stops on once what came before it is delivered (oversize = "fail").
   */
  private async send(plan: DeliveryPlan, signal: AbortSignal): Promise<MessageTooLargeError | undefined> {
    let failure = await this.oversized(plan);
    for (;;) {
      try {
        await this.producer.send(plan.batches, signal);
      } catch (error) {
        this.unsettled = true;
        throw this.classify(error);
      }
      const failed = plan.batches.filter((b) => b.state === 'failed');
      if (failed.length === 0) return failure;
      for (const outgoing of failed) await this.refused(outgoing);
      await this.newProducerEpoch(plan);
      this.encoder.encode(plan);
      failure ??= await this.oversized(plan);
    }
  }

  /**
   * A new producer id (or, transactional, epoch) for what the plan has not yet written. A new epoch
   * aborts the open transaction, and what the plan wrote in it with it: all of it is written again.
   */
  private async newProducerEpoch(plan: DeliveryPlan): Promise<void> {
    await this.producer.resetProducerId();
    if (this.link === undefined) return;
    for (const outgoing of plan.batches) if (outgoing.state === 'acked') outgoing.state = 'pending';
  }

  /** A batch the broker refused for good: learn from it, or stop the sink. */
  private async refused(outgoing: OutgoingBatch): Promise<void> {
    const { id, message } = outgoing.failure!;
    const target = this.targets.get(outgoing.topic)!;
    if (TOO_LARGE.has(id)) {
      const size = outgoing.batch.bytes.length;
      this.stats.errors++;
      if (outgoing.batch.count === 1) {
        // The only record: too large alone. The topic's limit is at most one byte less.
        target.limit = Math.min(target.limit, size - 1);
        return;
      }
      const described = await this.admin.maxMessageBytes(target.name);
      target.limit = described !== undefined && described < size ? described : Math.floor(size / 2);
      this.log.warn(
        { topic: target.name, limit: target.limit },
        `Kafka refused a ${size}-byte batch for ${target.name} as too large (${id}): sending batches of at most ${target.limit} bytes`,
      );
      return;
    }
    if (PRODUCER_STATE.has(id)) {
      this.log.warn(
        { topic: outgoing.topic, partition: outgoing.partition },
        `Kafka lost this producer's sequence (${message}): sending what is not yet written under a new producer id`,
      );
      return;
    }
    const cause = new Error(message);
    if (FORBIDDEN.has(id)) throw new KafkaForbiddenError(this.where, id, cause);
    throw new KafkaRejectedError(this.where, id, cause);
  }

  /**
   * Records too large for their topic even alone. oversize = "dead_letter": each goes to
   * dead_letter_topic (truncated, with its coordinates and size) and is left out of the delivery.
   * "fail": the delivery ends before the first one, and its error is returned.
   */
  private async oversized(plan: DeliveryPlan): Promise<MessageTooLargeError | undefined> {
    if (plan.tooLarge.size === 0) return undefined;
    if (this.config.oversize === 'fail') {
      const [index, bytes] = plan.tooLarge.entries().next().value!;
      const target = plan.targets[index]!;
      plan.end = index;
      // Nothing after it was stamped yet (the producer stamps a batch as it first sends it).
      this.encoder.encode(plan);
      return new MessageTooLargeError(plan.records[index]!, target.name, bytes, target.limit);
    }
    const letters: DeadLetter[] = [];
    for (const [index, bytes] of plan.tooLarge) {
      const record = plan.records[index]!;
      const target = plan.targets[index]!;
      const error = new MessageTooLargeError(record, target.name, bytes, target.limit);
      this.log.warn({ err: error }, `${error.message}: sent to ${this.config.dead_letter_topic}`);
      letters.push({
        record,
        headers: {
          'pgrelay-error': error.message,
          'pgrelay-sink': this.name,
          'pgrelay-topic': target.name,
          'pgrelay-size': String(bytes),
          ...eventCoordinates(record.origin),
        },
      });
    }
    await this.sendDeadLetters(letters);
    for (const index of [...plan.tooLarge.keys()]) plan.setAside(index);
    this.stats.drop('oversize', letters.length);
    this.deadLetters.oversize += letters.length;
    return undefined;
  }

  /** Events a handler failed on go to dead_letter_topic as pgrelay JSON (raw: as they were), headers naming the error. */
  protected override async deadLetter(events: RelayEvent[], error: HandlerError): Promise<boolean> {
    if (this.config.dead_letter_topic === undefined) return false;
    await this.open();
    await this.sendDeadLetters(
      events.map((event) => ({
        record: encodeEvent(event),
        headers: {
          'pgrelay-error': errorMessage(error.cause ?? error),
          'pgrelay-handler': error.handler,
          'pgrelay-sink': this.name,
          'pgrelay-origin': describeEvent(event).trim(),
          ...eventCoordinates(event),
        },
      })),
    );
    return true;
  }

  /**
   * Writes dead letters durably. A dead letter never fails on size: its value (and a key that would
   * not leave room for it) is cut to what dead_letter_topic accepts, and a header says so. Should the
   * broker still refuse one (its limit was not known), the limit learnt from that is used.
   */
  private async sendDeadLetters(letters: DeadLetter[]): Promise<void> {
    const topic = this.config.dead_letter_topic!;
    const target = (await this.resolve([topic])).get(topic)!;
    for (let attempt = 0; letters.length > 0; attempt++) {
      const records = letters.map((letter) => deadLetterRecord(letter, topic, target.limit));
      const plan = await this.planFor(records);
      this.encoder.encode(plan);
      await this.settle();
      try {
        if (plan.tooLarge.size > 0) target.limit = Math.floor(target.limit / 2);
        else {
          try {
            await this.producer.send(plan.batches);
          } catch (error) {
            this.unsettled = true;
            throw this.classify(error);
          }
          for (const outgoing of plan.batches)
            if (outgoing.state === 'failed') {
              await this.refused(outgoing);
              this.unsettled = true;
            }
        }
        const truncated = records.filter(
          (r, i) => plan.acknowledged(i) && r.headers!['pgrelay-truncated'] !== undefined,
        );
        if (truncated.length > 0) {
          this.deadLetters.truncated += truncated.length;
          this.log.warn(
            { topic, truncated: truncated.length },
            `${truncated.length} dead letter(s) cut to the ${target.limit} bytes ${topic} accepts (header pgrelay-truncated)`,
          );
        }
        letters = letters.filter((_, i) => !plan.acknowledged(i));
      } finally {
        this.encoder.release(plan);
      }
      if (letters.length > 0 && attempt >= 3)
        throw new KafkaRejectedError(
          this.where,
          'MESSAGE_TOO_LARGE',
          new Error(`dead letters for ${topic} stay too large`),
        );
    }
  }

  /** Routes a delivery's records to topics (counting the unmapped) and learns those topics. */
  private async planFor(records: SinkRecord[]): Promise<DeliveryPlan> {
    const routed = new Array<string | undefined>(records.length);
    const names = new Set<string>();
    let previous: string | undefined;
    for (let i = 0; i < records.length; i++) {
      const topic = this.topics.topicFor(records[i]!);
      if (topic === undefined) this.unmapped(records[i]!);
      else if (topic !== previous) names.add((previous = topic));
      routed[i] = topic;
    }
    const targets = names.size === 0 ? new Map<string, TopicTarget>() : await this.resolve([...names]);
    const routedTargets = new Array<TopicTarget | undefined>(records.length);
    let last: TopicTarget | undefined;
    for (let i = 0; i < records.length; i++) {
      const topic = routed[i];
      if (topic !== undefined && topic !== last?.name) last = targets.get(topic);
      routedTargets[i] = topic === undefined ? undefined : last;
    }
    return new DeliveryPlan(records, routedTargets);
  }

  /**
   * Before a new plan is first sent: after one that ended with batches in an unknown state, a new
   * producer id, as the sequences claimed for those batches would leave a gap.
   */
  private async settle(): Promise<void> {
    if (!this.unsettled) return;
    await this.producer.resetProducerId();
    this.unsettled = false;
  }

  private releasePlan(): void {
    if (this.plan !== undefined) this.encoder.release(this.plan);
    this.plan = undefined;
  }

  /**
   * The sink's view of `topics`: partition counts (fresh, from the client's metadata cache) and the
   * largest batch each accepts (asked once). A missing topic is created when create_topics says how.
   */
  private async resolve(names: string[]): Promise<Map<string, TopicTarget>> {
    const counts = await this.partitionCounts(names);
    const resolved = new Map<string, TopicTarget>();
    for (const name of names) resolved.set(name, await this.target(name, counts.get(name)!));
    if (this.missingTopics.size > 0) {
      for (const name of names) this.missingTopics.delete(name);
      this.showMissingTopics();
    }
    return resolved;
  }

  /** The sink's target for an existing topic of `partitions` partitions; its size limit is asked once. */
  private async target(name: string, partitions: number): Promise<TopicTarget> {
    let target = this.targets.get(name);
    if (target === undefined) {
      const limit = (await this.admin.maxMessageBytes(name)) ?? DEFAULT_MAX_MESSAGE_BYTES;
      target = { name, partitions, limit, sticky: 0 };
      this.targets.set(name, target);
    }
    target.partitions = partitions;
    return target;
  }

  /**
   * Partition counts of topics that exist. Asked for a missing topic, a broker that creates topics on
   * first use does so and answers that it has no leader yet; one that does not answers that the topic
   * is unknown: an UnknownTopicError at once. A topic still without partitions after
   * UNKNOWN_TOPIC_GRACE_MS is one too. With create_topics set, pgrelay creates a missing topic.
   */
  private async partitionCounts(names: string[]): Promise<Map<string, number>> {
    const settings = this.topicSettings();
    const deadline = Date.now() + UNKNOWN_TOPIC_GRACE_MS;
    for (let created = 0; ; created++) {
      let error: unknown;
      try {
        const counts = await this.producer.partitionCounts(names, settings === undefined);
        const missing = names.find((name) => !(counts.get(name)! > 0));
        if (missing === undefined) return counts;
        if (settings === undefined && Date.now() <= deadline) {
          await new Promise((resolve) => setTimeout(resolve, 250));
          continue;
        }
        error = new UnknownTopicError(missing, this.where, UNKNOWN_TOPIC_HINT);
      } catch (caught) {
        error = this.classify(caught);
        if (error instanceof UnknownTopicError && settings === undefined)
          error = new UnknownTopicError(error.topic, this.where, UNKNOWN_TOPIC_HINT, error.cause);
      }
      if (!(error instanceof UnknownTopicError) || settings === undefined || created >= names.length)
        throw error;
      await this.admin.create(error.topic, settings).catch((e: unknown) => {
        throw this.classify(e);
      });
      this.log.info({ topic: error.topic, ...this.config.create_topics }, `created topic ${error.topic}`);
    }
  }

  private topicSettings(): TopicSettings | undefined {
    const create = this.config.create_topics;
    if (create === undefined) return undefined;
    const configs: Record<string, string> = {};
    if (create.retention !== undefined)
      configs['retention.ms'] = create.retention === 'forever' ? '-1' : String(create.retention);
    if (create.retention_bytes !== undefined) configs['retention.bytes'] = String(create.retention_bytes);
    if (create.cleanup_policy !== undefined) configs['cleanup.policy'] = create.cleanup_policy;
    if (create.min_insync_replicas !== undefined)
      configs['min.insync.replicas'] = String(create.min_insync_replicas);
    if (create.max_message_bytes !== undefined)
      configs['max.message.bytes'] = String(create.max_message_bytes);
    return { partitions: create.partitions, replicationFactor: create.replication_factor, configs };
  }

  private classify(error: unknown) {
    return classifyKafkaError(error, this.where);
  }

  private unmapped(record: SinkRecord): void {
    this.stats.drop('unmapped');
    const name = record.origin === undefined ? '(no origin)' : routingName(record.origin);
    if (!this.unmappedSeen.has(name)) {
      this.unmappedSeen.add(name);
      this.log.warn(
        { table: name },
        `no topic for ${name} (no topic_map, topic_routes or topic_fallback matches): its events are dropped and counted`,
      );
    }
  }

  protected async close(): Promise<void> {
    clearTimeout(this.missingTopicsTimer);
    this.missingTopicsTimer = undefined;
    this.releasePlan();
    await Promise.all([this.producer.close(), this.admin.close()]);
  }
}
