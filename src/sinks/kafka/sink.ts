import kafkajs, { type Kafka, type Message, type Producer, type TopicMessages } from 'kafkajs';

import { PgRelayError, errorMessage } from '../../core/errors.js';
import { type RelayEvent, routingName } from '../../core/event.js';
import { type HandlerError, type SinkRecord, describeEvent } from '../../core/handler.js';
import { Sink, type SinkContext, type SinkSettings } from '../../core/sink.js';
import { createKafka } from '../../kafka/client.js';
import { encodeEvent } from '../../core/encoding.js';
import { COMPRESSION } from '../../kafka/codecs.js';
import { credentialsProblem, isForbidden, protocolType } from '../../kafka/errors.js';
import type { KafkaSinkConfig } from './config.js';
import { type DeliveryPlan, type TopicGroup, planRequests, size } from './requests.js';
import { TopicRouter } from './topics.js';

const { KafkaJSError, Partitioners } = kafkajs;
const ACKS = { all: -1, leader: 1, none: 0 } as const;
const TOO_LARGE = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE']);
export class MessageTooLargeError extends PgRelayError {
  constructor(record: SinkRecord, topic: string, bytes: number, cause: unknown) {
    super(
      'PGRELAY_KAFKA_MESSAGE_TOO_LARGE',
      `message for topic ${topic}${describeEvent(record.origin)}, key ${keyText(record)}, is ${bytes} bytes: larger than the ` +
        `broker accepts (raise the topic's max.message.bytes and the broker's message.max.bytes, or drop or shrink the ` +
        `column with the enrich handler)`,
      { cause },
    );
  }
}

/**
 * Produces records to Kafka. A batch is acknowledged to the sources only after Kafka acknowledged it
 * (acks = all by default); until then it is retried with backoff, so a broker outage holds positions
 * instead of dropping data. Message key = the event key, so a row's changes keep their order.
 */
export class KafkaSink extends Sink {
  private readonly kafka: Kafka;
  private readonly producer: Producer;
  private readonly topics: TopicRouter;
  private readonly unmappedSeen = new Set<string>();
  private connected = false;
  /** The delivery being written, and how far it got. */
  private plan: DeliveryPlan | undefined;
  private readonly route = {
    topicFor: (record: SinkRecord) => this.topics.topicFor(record),
    unmapped: (record: SinkRecord) => this.unmapped(record),
  };

  constructor(
    name: string,
    private readonly config: KafkaSinkConfig,
    settings: SinkSettings,
    context: SinkContext,
  ) {
    super(name, 'kafka', config.sources, settings, context);
    this.kafka = createKafka(config, this.log);
    // Naming the (default, Java-compatible) partitioner stops kafkajs warning about it on every start.
    this.producer = this.kafka.producer({
      allowAutoTopicCreation: true,
      idempotent: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    this.topics = new TopicRouter(config.topic_map, config.topic_routes, config.topic_fallback);
    this.health.details = { brokers: config.brokers };
  }

  protected async open(): Promise<void> {
    try {
      await this.producer.connect();
    } catch (error) {
      throw this.classify(error);
    }
    this.connected = true;
  }

  protected async write(records: SinkRecord[]): Promise<number> {
    if (!this.connected) await this.open();
    // A retry of the same delivery resumes after the requests that already succeeded, so a broker
    // hiccup in the middle of a large delivery does not send its first part twice.
    const plan =
      this.plan?.records === records
        ? this.plan
        : (this.plan = planRequests(records, this.settings.batch.bytes, this.route));
    for (; plan.next < plan.requests.length; plan.next++) await this.send(plan.requests[plan.next]!);
    this.plan = undefined;
    return plan.bytes;
  }

  /** Sends; a batch the broker finds too large is split until the one record at fault is known. */
  private async send(groups: TopicGroup[]): Promise<void> {
    try {
      const topicMessages: TopicMessages[] = groups.map(({ topic, messages }) => ({ topic, messages }));
      await this.producer.sendBatch({
        topicMessages,
        acks: ACKS[this.config.acks],
        compression: COMPRESSION[this.config.compression],
        timeout: this.config.request_timeout,
      });
    } catch (error) {
      const type = protocolType(error);
      if (type !== undefined && TOO_LARGE.has(type)) {
        const total = groups.reduce((n, g) => n + g.messages.length, 0);
        if (total === 1) {
          const group = groups.find((g) => g.messages.length === 1)!;
          throw new MessageTooLargeError(
            group.records[0]!,
            group.topic,
            size(group.records[0]!.value) + size(group.records[0]!.key),
            error,
          );
        }
        // The topic accepts less than batch_bytes: split until the one record at fault is known.
        this.stats.errors++;
        this.log.warn(
          { topic: groups.map((g) => g.topic), records: total },
          `Kafka refused ${total} records as too large (${type}); sending them in halves`,
        );
        for (const half of split(groups)) await this.send(half);
        return;
      }
      throw this.classify(error);
    }
  }

  private classify(error: unknown): unknown {
    const credentials = credentialsProblem(error, `Kafka ${this.config.brokers.join(',')}`);
    if (credentials !== undefined) return credentials;
    if (isForbidden(error)) {
      return new PgRelayError(
        'PGRELAY_KAFKA_FORBIDDEN',
        `Kafka refused the batch: ${protocolType(error)}: ${errorMessage(error)}`,
        { cause: error },
      );
    }
    if (error instanceof KafkaJSError && /disconnected/i.test(error.message)) this.connected = false;
    return new PgRelayError(
      'PGRELAY_KAFKA_UNAVAILABLE',
      `Kafka ${this.config.brokers.join(',')}: ${errorMessage(error)}`,
      {
        cause: error,
        retriable: true,
      },
    );
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

  /** Events a handler failed on go to dead_letter_topic as pgrelay JSON (raw: as they were), headers naming the error. */
  protected override async deadLetter(events: RelayEvent[], error: HandlerError): Promise<boolean> {
    const topic = this.config.dead_letter_topic;
    if (topic === undefined) return false;
    const messages: Message[] = events.map((event) => {
      const record = encodeEvent(event);
      return {
        key: record.key,
        value: record.value,
        headers: {
          ...(event.action === 'raw' ? event.headers : {}),
          'pgrelay-error': errorMessage(error.cause ?? error),
          'pgrelay-handler': error.handler,
          'pgrelay-sink': this.name,
          'pgrelay-origin': describeEvent(event).trim(),
        },
      };
    });
    try {
      await this.producer.sendBatch({ topicMessages: [{ topic, messages }], acks: ACKS[this.config.acks] });
    } catch (sendError) {
      throw this.classify(sendError);
    }
    return true;
  }

  protected async close(): Promise<void> {
    await this.producer.disconnect();
  }
}

function split<T extends { messages: Message[]; records: SinkRecord[] }>(groups: T[]): T[][] {
  const flat = groups.flatMap((g) =>
    g.messages.map((m, i) => ({ group: g, message: m, record: g.records[i]! })),
  );
  const middle = Math.ceil(flat.length / 2);
  return [flat.slice(0, middle), flat.slice(middle)].map((part) => {
    const regrouped = new Map<T, T>();
    for (const { group, message, record } of part) {
      let target = regrouped.get(group);
      if (target === undefined) regrouped.set(group, (target = { ...group, messages: [], records: [] }));
      target.messages.push(message);
      target.records.push(record);
    }
    return [...regrouped.values()];
  });
}

function keyText(record: SinkRecord): string {
  if (record.key === null) return 'null';
  const text = typeof record.key === 'string' ? record.key : record.key.toString('utf8');
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
