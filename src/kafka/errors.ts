import kafkajs from 'kafkajs';

const { KafkaJSProtocolError } = kafkajs;

/** Broker answers that retrying cannot fix: an operator has to grant access or fix the name. */
const FORBIDDEN = new Set([
  'TOPIC_AUTHORIZATION_FAILED',
  'GROUP_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
  'SASL_AUTHENTICATION_FAILED',
  'INVALID_TOPIC_EXCEPTION',
  'INVALID_GROUP_ID',
]);

/** The Kafka protocol error type (`MESSAGE_TOO_LARGE`, `REBALANCE_IN_PROGRESS`...) behind an error, if any. */
export function protocolType(error: unknown): string | undefined {
  for (
    let e = error as { type?: string; cause?: unknown; originalError?: unknown } | undefined;
    e;
    e = (e.originalError ?? e.cause) as typeof e
  ) {
    if (e instanceof KafkaJSProtocolError || typeof e.type === 'string') return e.type;
  }
  return undefined;
}

export function isForbidden(error: unknown): boolean {
  const type = protocolType(error);
  return type !== undefined && FORBIDDEN.has(type);
}
