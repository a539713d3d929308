import fs from 'node:fs';
import kafkajs, { type Kafka, type KafkaConfig, type SASLOptions } from 'kafkajs';

const { logLevel: KafkaLogLevel } = kafkajs;
import type { Logger } from 'pino';
import { registerCodecs } from './codecs.js';

export interface KafkaConnection {
  brokers: string[];
  client_id: string;
  connect_timeout: number;
  request_timeout?: number;
  tls?: {
    enabled: boolean;
    ca_file?: string;
    cert_file?: string;
    key_file?: string;
    insecure_skip_verify: boolean;
  };
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
}

/** Our one way to build a kafkajs client: TLS, SASL, codecs, and kafkajs's log lines through pino. */
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
