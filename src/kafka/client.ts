import fs from 'node:fs';
import type { Base, BaseOptions, SASLOptions } from '@platformatic/kafka';
import type { Logger } from 'pino';

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

const MECHANISMS = {
  plain: 'PLAIN',
  'scram-sha-256': 'SCRAM-SHA-256',
  'scram-sha-512': 'SCRAM-SHA-512',
} as const satisfies Record<NonNullable<KafkaConnection['sasl']>['mechanism'], SASLOptions['mechanism']>;

/**
 * The @platformatic/kafka client options for a source's or sink's connection settings: brokers, TLS
 * (PEM files read here, so a wrong path is reported at start), SASL and timeouts. The library's own
 * retries stay short: pgrelay's components retry with their own backoff and report each outage.
 */
export function clientOptions(connection: KafkaConnection): BaseOptions {
  const options: BaseOptions = {
    clientId: connection.client_id,
    bootstrapBrokers: connection.brokers,
    connectTimeout: connection.connect_timeout,
    requestTimeout: connection.request_timeout ?? 30_000,
    timeout: connection.request_timeout ?? 30_000,
    retries: 3,
    retryDelay: 250,
  };
  const tls = connection.tls;
  if (tls?.enabled) {
    options.tls = {
      rejectUnauthorized: !tls.insecure_skip_verify,
      ca: tls.ca_file ? [fs.readFileSync(tls.ca_file, 'utf8')] : undefined,
      cert: tls.cert_file ? fs.readFileSync(tls.cert_file, 'utf8') : undefined,
      key: tls.key_file ? fs.readFileSync(tls.key_file, 'utf8') : undefined,
    };
  }
  if (connection.sasl) {
    const { mechanism, username, password } = connection.sasl;
    options.sasl = { mechanism: MECHANISMS[mechanism], username, password };
  }
  return options;
}

interface BrokerEvent {
  broker: { host: string; port: number };
}

/**
 * Logs each broker connection's changes of state, once: lost, unreachable, back. The library retries
 * quietly; a broker outage is one warning when it starts and one line when it ends, whatever the
 * number of attempts in between (what failed and why is the component's own retry line).
 */
export function logBrokerStates(client: Base, log: Logger): void {
  const down = new Set<string>();
  let closed = false;
  const address = ({ broker }: BrokerEvent) => `${broker.host}:${broker.port}`;
  const lost = (event: BrokerEvent, how: string) => {
    const broker = address(event);
    if (closed || down.has(broker)) return;
    down.add(broker);
    log.warn({ broker }, `Kafka broker ${broker} ${how}`);
  };
  client.on('client:broker:disconnect', (event: BrokerEvent) => lost(event, 'closed the connection'));
  client.on('client:broker:failed', (event: BrokerEvent) => lost(event, 'cannot be reached'));
  client.on('client:broker:connect', (event: BrokerEvent) => {
    const broker = address(event);
    if (down.delete(broker)) log.info({ broker }, `Kafka broker ${broker} is reachable again`);
    else log.debug({ broker }, `connected to Kafka broker ${broker}`);
  });
  client.on('client:close', () => {
    closed = true;
  });
}
