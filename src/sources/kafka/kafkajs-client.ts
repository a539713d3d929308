/**
 * The kafkajs client the Kafka source still runs on until it moves to src/kafka (@platformatic/kafka),
 * which the sink already uses. Delete this file with kafkajs.
 */
import fs from 'node:fs';
import { compressionsAlgorithms } from '@platformatic/kafka';
import kafkajs, { type Kafka, type KafkaConfig, type SASLOptions } from 'kafkajs';
import type { Logger } from 'pino';
import { PgRelayError, errorMessage } from '../../core/errors.js';
import type { KafkaConnection } from '../../kafka/client.js';

const { CompressionCodecs, CompressionTypes, KafkaJSProtocolError, logLevel: KafkaLogLevel } = kafkajs;

interface Codec {
  compress(encoder: { buffer: Buffer }): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
}

let registered = false;

/** kafkajs reads gzip only; snappy, lz4 and zstd batches are decompressed with @platformatic/kafka's codecs. */
function registerCodecs(): void {
  if (registered) return;
  registered = true;
  const codecs = CompressionCodecs as unknown as Record<number, () => Codec>;
  const codec = (name: 'snappy' | 'lz4' | 'zstd') => (): Codec => ({
    compress: (encoder) => Promise.resolve(compressionsAlgorithms[name].compressSync(encoder.buffer)),
    decompress: (buffer) => Promise.resolve(compressionsAlgorithms[name].decompressSync(buffer)),
  });
  codecs[CompressionTypes.Snappy] = codec('snappy');
  codecs[CompressionTypes.LZ4] = codec('lz4');
  codecs[CompressionTypes.ZSTD] = codec('zstd');
}

/** A kafkajs client: TLS, SASL, codecs, and kafkajs's log lines through pino. */
export function createKafka(connection: KafkaConnection, log: Logger): Kafka {
  registerCodecs();
  const config: KafkaConfig = {
    clientId: connection.client_id,
    brokers: connection.brokers,
    connectionTimeout: connection.connect_timeout,
    requestTimeout: connection.request_timeout ?? 30_000,
    retry: { initialRetryTime: 100, maxRetryTime: 5_000, retries: 3 },
    logLevel: KafkaLogLevel.WARN,
    logCreator: () => (entry) => {
      const { message, ...fields } = entry.log;
      const line = `kafkajs: ${message}`;
      // kafkajs logs each protocol error it then retries itself (a new topic's first metadata
      // request, a leader moving); pgrelay reports what is still failing after those retries.
      if (entry.level <= KafkaLogLevel.WARN && !message.startsWith('Response '))
        log.warn({ kafkajs: fields }, line);
      else log.debug({ kafkajs: fields }, line);
    },
  };
  const tls = connection.tls;
  if (tls?.enabled) {
    config.ssl = {
      rejectUnauthorized: !tls.insecure_skip_verify,
      ca: tls.ca_file ? [fs.readFileSync(tls.ca_file, 'utf8')] : undefined,
      cert: tls.cert_file ? fs.readFileSync(tls.cert_file, 'utf8') : undefined,
      key: tls.key_file ? fs.readFileSync(tls.key_file, 'utf8') : undefined,
    };
  }
  if (connection.sasl) {
    const { mechanism, username, password } = connection.sasl;
    config.sasl = { mechanism, username, password } as SASLOptions;
  }
  return new kafkajs.Kafka(config);
}

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
