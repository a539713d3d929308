import { Producer, ProduceAcks, compatibilityPartitioner } from '@platformatic/kafka';
import type { Logger } from 'pino';
import { PgRelayError, errorMessage } from '../../core/errors.js';
import type { SinkRecord } from '../../core/handler.js';
import { type KafkaConnection, clientOptions, logBrokerStates } from '../../kafka/client.js';
import { deadLetterRecord } from '../../kafka/dead-letter.js';
import { classifyKafkaError, protocolError } from '../../kafka/errors.js';
import { DEFAULT_MAX_MESSAGE_BYTES, TopicAdmin } from '../../kafka/topics.js';
import { type SourceMessage, headersByName } from './decode.js';

/** Broker answers saying a record is larger than the topic takes. */
const TOO_LARGE = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE']);
/** Below this the limit learnt from refusals is not believed: something else is wrong. */
const SMALLEST_LIMIT = 1024;

/**
 * Writes messages the source cannot decode to its `dead_letter_topic`: key, value and headers as
 * they were (repeated names too), plus headers naming where the message came from and why it was
 * set aside. A dead letter never fails on size: a value larger than the topic accepts is cut to
 * fit, and `pgrelay-truncated` holds its original size. A write returns only once Kafka holds it
 * (acks = all); the source's offsets move past the message only then.
 */
export class DeadLetterWriter {
  private producer: Producer | undefined;
  private readonly admin: TopicAdmin;
  /** What the topic accepts per record: its max.message.bytes, or what refusals taught. */
  private limit: number | undefined;

  constructor(
    private readonly connection: KafkaConnection,
    readonly topic: string,
    private readonly source: string,
    private readonly log: Logger,
  ) {
    this.admin = new TopicAdmin(connection);
  }

  /** Writes the dead letter; resolves true when its value (or key) had to be cut to fit. */
  async write(message: SourceMessage, error: unknown): Promise<boolean> {
    const where = `dead_letter_topic ${this.topic}`;
    try {
      this.limit ??= (await this.admin.maxMessageBytes(this.topic)) ?? DEFAULT_MAX_MESSAGE_BYTES;
      for (;;) {
        const record = deadLetterRecord(
          {
            record: { key: message.key, value: message.value, headers: headersByName(message) },
            headers: {
              'pgrelay-source': this.source,
              'pgrelay-source-topic': message.topic,
              'pgrelay-source-partition': String(message.partition),
              'pgrelay-source-offset': String(message.offset),
              'pgrelay-error': errorMessage(error),
            },
          },
          this.topic,
          this.limit,
        );
        try {
          await this.client().send({ messages: [toMessage(this.topic, record)] });
          return record.headers?.['pgrelay-truncated'] !== undefined;
        } catch (sendError) {
          if (!TOO_LARGE.has(protocolError(sendError) ?? '')) throw sendError;
          if (this.limit <= SMALLEST_LIMIT) {
            // Not even the headers fit: an operator has to raise the topic's limit, which the
            // next attempt reads again.
            this.limit = undefined;
            throw new DeadLetterError(
              `${where} refuses even a dead letter cut to its headers (${protocolError(sendError)}): raise the topic's max.message.bytes`,
              sendError,
              true,
            );
          }
          // The topic accepts less than its config said (or the broker would not say): learn it.
          this.limit = Math.floor(this.limit / 2);
          this.log.debug(
            { topic: this.topic, limit: this.limit },
            'dead letter too large: cutting it further',
          );
        }
      }
    } catch (sendError) {
      if (sendError instanceof DeadLetterError) throw sendError;
      const classified = classifyKafkaError(sendError, where);
      throw new DeadLetterError(errorMessage(classified), classified, classified.retriable);
    }
  }

  async close(): Promise<void> {
    const producer = this.producer;
    this.producer = undefined;
    await Promise.all([producer?.close(), this.admin.close()]);
  }

  private client(): Producer {
    if (this.producer === undefined) {
      // Idempotent: the library sends a request again when a partition's metadata was stale (a
      // topic it just created), and the broker must drop the copy.
      this.producer = new Producer({
        ...clientOptions(this.connection),
        acks: ProduceAcks.ALL,
        idempotent: true,
        partitioner: compatibilityPartitioner,
        autocreateTopics: true,
      });
      logBrokerStates(this.producer, this.log);
    }
    return this.producer;
  }
}

/** Writing a dead letter failed: retried with backoff unless Kafka refuses it for good. */
export class DeadLetterError extends PgRelayError {
  constructor(message: string, cause: unknown, retriable: boolean) {
    super('PGRELAY_KAFKA_DEAD_LETTER', message, { cause, retriable });
  }
}

/**
 * A record as the library's producer takes it: header names as distinct Buffers, so a name can
 * repeat. Its types say Buffer, but its writer writes null as a header without a value (length -1).
 */
function toMessage(topic: string, record: SinkRecord) {
  const headers = new Map<Buffer, Buffer | null>();
  for (const [name, value] of Object.entries(record.headers ?? {})) {
    for (const item of Array.isArray(value) ? value : [value]) headers.set(Buffer.from(name), bytes(item));
  }
  return {
    topic,
    key: bytes(record.key) ?? undefined,
    value: bytes(record.value) as Buffer,
    headers: headers as Map<Buffer, Buffer>,
  };
}

function bytes(value: Buffer | string | null): Buffer | null {
  return typeof value === 'string' ? Buffer.from(value) : value;
}
