import kafkajs, { type IHeaders, type Kafka, type Producer } from 'kafkajs';
import { PgRelayError, errorMessage } from '../../core/errors.js';
import { isForbidden, protocolType } from './kafkajs-client.js';
import type { SourceMessage } from './decode.js';

const { KafkaJSError, Partitioners } = kafkajs;

/**
 * Writes messages the source cannot decode to its `dead_letter_topic`: key, value and headers as
 * they were, plus headers naming where the message came from and why it was set aside. A write
 * returns only once Kafka holds it (acks = all); the source's offsets move past the message only then.
 */
export class DeadLetterWriter {
  private readonly producer: Producer;
  private connected = false;

  constructor(
    kafka: Kafka,
    readonly topic: string,
    private readonly source: string,
  ) {
    this.producer = kafka.producer({
      allowAutoTopicCreation: true,
      idempotent: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
  }

  async write(message: SourceMessage, error: unknown): Promise<void> {
    const headers: IHeaders = {
      ...message.headers,
      'pgrelay-source': this.source,
      'pgrelay-source-topic': message.topic,
      'pgrelay-source-partition': String(message.partition),
      'pgrelay-source-offset': message.offset,
      'pgrelay-error': errorMessage(error),
    };
    try {
      if (!this.connected) {
        await this.producer.connect();
        this.connected = true;
      }
      await this.producer.send({
        topic: this.topic,
        acks: -1,
        messages: [{ key: message.key, value: message.value, headers }],
      });
    } catch (sendError) {
      if (sendError instanceof KafkaJSError && /disconnected/i.test(sendError.message))
        this.connected = false;
      const forbidden = isForbidden(sendError);
      throw new DeadLetterError(
        `dead_letter_topic ${this.topic}: ${forbidden ? `${protocolType(sendError)}: ` : ''}${errorMessage(sendError)}`,
        sendError,
        !forbidden,
      );
    }
  }

  async close(): Promise<void> {
    if (this.connected) await this.producer.disconnect();
    this.connected = false;
  }
}

/** Writing a dead letter failed: retried with backoff unless Kafka refuses it for good. */
export class DeadLetterError extends PgRelayError {
  constructor(message: string, cause: unknown, retriable: boolean) {
    super('PGRELAY_KAFKA_DEAD_LETTER', message, { cause, retriable });
  }
}
