import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Admin } from '@platformatic/kafka';
import { classArchive } from './class-archive.js';
import { freePort, startService, stopProcess, tempDir, waitFor } from './processes.js';

/** The broker jars `make` fetched from Maven Central (scripts/toolchain.sh kafka-libs). */
export function kafkaLibs(): string {
  const libs = process.env.PGRELAY_KAFKA_LIBS;
  if (!libs || !fs.existsSync(libs)) {
    throw new Error('Kafka jars not found: run the tests through `make test` (it sets PGRELAY_KAFKA_LIBS)');
  }
  return libs;
}

const JAVA_OPTS = [
  '-Xms256m',
  '-Xmx512m',
  '-XX:+UseG1GC',
  '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn',
  '-Djava.awt.headless=true',
];

export interface KafkaOptions {
  /** Extra server.properties settings. */
  settings?: Record<string, string>;
  /**
   * Also listen with SASL (PLAIN and SCRAM-SHA-256/512, user alice / alice-secret) and with mutual
   * TLS (a certificate for 127.0.0.1 signed by a throwaway CA, in `caFile`; clients must present a
   * certificate of that CA: `clientCertFile`, `clientKeyFile`).
   */
  secure?: boolean;
}

/** The extra listeners of a `secure` broker. */
export interface SecureListeners {
  sasl: string;
  tls: string;
  /** PEM of the CA that signed the broker's certificate. */
  caFile: string;
  clientCertFile: string;
  clientKeyFile: string;
}

export const SASL_USER = { username: 'alice', password: 'alice-secret' } as const;

/** A throwaway single-node Apache Kafka in KRaft mode (broker and controller in one process). */
export class KafkaServer {
  private child: ChildProcess | undefined;

  private constructor(
    readonly dir: string,
    readonly port: number,
    readonly logFile: string,
  ) {}

  static async start(options: KafkaOptions = {}): Promise<KafkaServer> {
    const libs = kafkaLibs();
    const dir = tempDir('pgrelay-kafka-');
    const [port, controllerPort] = [await freePort(), await freePort()];
    const secure = options.secure ? await secureProperties(dir) : undefined;
    const properties: Record<string, string> = {
      'process.roles': 'broker,controller',
      'node.id': '1',
      'controller.quorum.voters': `1@127.0.0.1:${controllerPort}`,
      listeners: `PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
      'advertised.listeners': `PLAINTEXT://127.0.0.1:${port}`,
      'controller.listener.names': 'CONTROLLER',
      'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
      'inter.broker.listener.name': 'PLAINTEXT',
      'log.dirs': path.join(dir, 'data'),
      'num.partitions': '1',
      'offsets.topic.replication.factor': '1',
      'offsets.topic.num.partitions': '4',
      'transaction.state.log.replication.factor': '1',
      'transaction.state.log.min.isr': '1',
      'group.initial.rebalance.delay.ms': '0',
      // Tests that kill a group member wait out its session: 3 s sessions (the broker's floor is 6 s)
      // cut those waits by half.
      'group.min.session.timeout.ms': '1000',
      'auto.create.topics.enable': 'true',
      ...secure?.properties(port, controllerPort),
      ...options.settings,
    };
    const config = path.join(dir, 'server.properties');
    fs.writeFileSync(
      config,
      Object.entries(properties)
        .map(([k, v]) => `${k}=${v}`)
        .join('\n') + '\n',
    );
    const archive = classArchive('kafka.tools.StorageTool', libs);
    let formatted = false;
    try {
      execFileSync(
        'java',
        [
          ...JAVA_OPTS,
          ...archive.options,
          '-cp',
          `${libs}/*`,
          'kafka.tools.StorageTool',
          'format',
          '-t',
          clusterId(),
          '-c',
          config,
          ...(secure?.formatArgs ?? []),
        ],
        {
          stdio: 'pipe',
        },
      );
      formatted = true;
    } finally {
      archive.ended(formatted);
    }
    const server = new KafkaServer(dir, port, path.join(dir, 'kafka.log'));
    server.secure = secure?.listeners;
    await server.start();
    return server;
  }

  /** SASL and TLS listeners, for a broker started with `secure`. */
  secure: SecureListeners | undefined;

  /** The broker's process id, while it runs (the bench reads its threads' CPU from /proc). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  get brokers(): string[] {
    return [`127.0.0.1:${this.port}`];
  }

  async start(): Promise<void> {
    const libs = kafkaLibs();
    const archive = classArchive('kafka.Kafka', libs);
    const args = [
      ...JAVA_OPTS,
      ...archive.options,
      '-cp',
      `${libs}/*`,
      'kafka.Kafka',
      path.join(this.dir, 'server.properties'),
    ];
    this.child = startService('kafka', 'java', args, this.logFile);
    // A broker stopped with SIGTERM exits of its own accord, writing its archive; one killed does not.
    this.child.once('exit', (_code, signal) => archive.ended(signal === null));
    await waitFor('Kafka to answer metadata requests', () => this.ping(), 90_000, this.logFile);
  }

  /** Graceful stop (SIGTERM), or kill -9 (SIGKILL: no controlled shutdown); start() brings it back on its data. */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    if (this.child) await stopProcess(this.child, signal, 30_000);
    this.child = undefined;
  }

  async destroy(): Promise<void> {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private async ping(): Promise<true | undefined> {
    const admin = new Admin({ clientId: 'pgrelay-test', bootstrapBrokers: this.brokers, retries: 0 });
    try {
      await admin.metadata({ topics: [], forceUpdate: true });
      return true;
    } finally {
      await admin.close();
    }
  }
}

/**
 * Listeners for SASL_PLAINTEXT (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) and SSL beside PLAINTEXT, a CA
 * and broker certificate made with openssl, and the SCRAM credentials `kafka-storage format` stores.
 */
async function secureProperties(dir: string) {
  const [saslPort, tlsPort] = [await freePort(), await freePort()];
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=pgrelay test CA',
  );
  // A key and a certificate signed by the CA: `name`.key and `name`.pem.
  const signed = (name: string, subject: string, extensions: string[] = []) => {
    openssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      subject,
    );
    openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${name}.pem`,
      '-days',
      '2',
      ...extensions,
    );
  };
  fs.writeFileSync(path.join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  signed('broker', '/CN=127.0.0.1', ['-extfile', 'san.ext']);
  signed('client', '/CN=pgrelay');

  const keystore = path.join(dir, 'broker-keystore.pem');
  fs.writeFileSync(
    keystore,
    fs.readFileSync(path.join(dir, 'broker.key'), 'utf8') +
      fs.readFileSync(path.join(dir, 'broker.pem'), 'utf8'),
  );
  const { username, password } = SASL_USER;
  const scram = `org.apache.kafka.common.security.scram.ScramLoginModule required;`;
  return {
    listeners: {
      sasl: `127.0.0.1:${saslPort}`,
      tls: `127.0.0.1:${tlsPort}`,
      caFile: path.join(dir, 'ca.pem'),
      clientCertFile: path.join(dir, 'client.pem'),
      clientKeyFile: path.join(dir, 'client.key'),
    },
    formatArgs: [
      '--add-scram',
      `SCRAM-SHA-256=[name=${username},password=${password}]`,
      '--add-scram',
      `SCRAM-SHA-512=[name=${username},password=${password}]`,
    ],
    properties: (port: number, controllerPort: number): Record<string, string> => ({
      listeners: `PLAINTEXT://127.0.0.1:${port},SASL_PLAINTEXT://127.0.0.1:${saslPort},SSL://127.0.0.1:${tlsPort},CONTROLLER://127.0.0.1:${controllerPort}`,
      'advertised.listeners': `PLAINTEXT://127.0.0.1:${port},SASL_PLAINTEXT://127.0.0.1:${saslPort},SSL://127.0.0.1:${tlsPort}`,
      'listener.security.protocol.map':
        'PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,CONTROLLER:PLAINTEXT',
      'sasl.enabled.mechanisms': 'PLAIN,SCRAM-SHA-256,SCRAM-SHA-512',
      'listener.name.sasl_plaintext.plain.sasl.jaas.config': `org.apache.kafka.common.security.plain.PlainLoginModule required user_${username}="${password}";`,
      'listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config': scram,
      'listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config': scram,
      'listener.name.ssl.ssl.keystore.type': 'PEM',
      'listener.name.ssl.ssl.keystore.location': keystore,
      'listener.name.ssl.ssl.truststore.type': 'PEM',
      'listener.name.ssl.ssl.truststore.location': path.join(dir, 'ca.pem'),
      'listener.name.ssl.ssl.client.auth': 'required',
    }),
  };
}

/** A KRaft cluster id: 16 random bytes, URL-safe base64 without padding. */
function clusterId(): string {
  for (;;) {
    const id = Buffer.from(randomUUID().replace(/-/g, ''), 'hex').toString('base64url');
    // kafka-storage would read an id starting with "-" as an option (about one run in 64).
    if (!id.startsWith('-')) return id;
  }
}
