import { PgRelayError } from '../../core/errors.js';
import { type SinkRecord, describeEvent } from '../../core/handler.js';

export class MessageTooLargeError extends PgRelayError {
  constructor(record: SinkRecord, topic: string, bytes: number, limit: number) {
    super(
      'PGRELAY_KAFKA_MESSAGE_TOO_LARGE',
      `message for topic ${topic}${describeEvent(record.origin)}, key ${keyText(record)}, is ${bytes} bytes: larger than the ` +
        `${limit} bytes the broker accepts (raise the topic's max.message.bytes and the broker's message.max.bytes, drop or ` +
        `shrink the column with the enrich handler, or set oversize = "dead_letter")`,
    );
  }
}

/** A handler's record whose key, value or a header is not a string, a Buffer or null. */
export class InvalidRecordError extends PgRelayError {
  constructor(record: SinkRecord, topic: string, cause: unknown) {
    super(
      'PGRELAY_KAFKA_INVALID_RECORD',
      `record for topic ${topic}${describeEvent(record.origin)}, key ${keyText(record)}: ${(cause as Error).message}`,
      { cause },
    );
  }
}

export function keyText(record: SinkRecord): string {
  const key = record.key;
  if (key === null) return 'null';
  const text = typeof key === 'string' ? key : Buffer.isBuffer(key) ? key.toString('utf8') : String(key);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
