import kafkajs from 'kafkajs';
import { PgRelayError, errorMessage } from '../core/errors.js';

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

/** Certificate problems Node's TLS reports: a config fix (tls.ca_file), never a retry. */
const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_HAS_EXPIRED',
  'CERT_UNTRUSTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * Wrong SASL credentials or an untrusted broker certificate: named failures naming the keys to fix,
 * instead of retries that cannot succeed. Undefined for anything else.
 */
export function credentialsProblem(error: unknown, where: string): PgRelayError | undefined {
  for (
    let e = error as
      { name?: string; code?: string; type?: string; cause?: unknown; originalError?: unknown } | undefined;
    e;
    e = (e.originalError ?? e.cause) as typeof e
  ) {
    if (e.name === 'KafkaJSSASLAuthenticationError' || e.type === 'SASL_AUTHENTICATION_FAILED') {
      return new PgRelayError(
        'PGRELAY_KAFKA_AUTH',
        `${where}: SASL authentication failed: ${errorMessage(e)} (check sasl.mechanism, sasl.username, sasl.password)`,
        { cause: error },
      );
    }
    if (e.code !== undefined && TLS_CODES.has(e.code)) {
      return new PgRelayError(
        'PGRELAY_KAFKA_TLS',
        `${where}: the broker's TLS certificate is not trusted: ${errorMessage(e)} (set tls.ca_file to the CA that signed it)`,
        { cause: error },
      );
    }
  }
  return undefined;
}
