import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import kafkajs from 'kafkajs';

const { Kafka, logLevel } = kafkajs;
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
}

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
      'auto.create.topics.enable': 'true',
      ...options.settings,
    };
    const config = path.join(dir, 'server.properties');
    fs.writeFileSync(
      config,
      Object.entries(properties)
        .map(([k, v]) => `${k}=${v}`)
        .join('\n') + '\n',
    );
    execFileSync(
      'java',
      [
        ...JAVA_OPTS,
        '-cp',
        `${libs}/*`,
        'kafka.tools.StorageTool',
        'format',
        '-t',
        clusterId(),
        '-c',
        config,
      ],
      {
        stdio: 'pipe',
      },
    );
    const server = new KafkaServer(dir, port, path.join(dir, 'kafka.log'));
    await server.start();
    return server;
  }

  get brokers(): string[] {
    return [`127.0.0.1:${this.port}`];
  }

  async start(): Promise<void> {
    const args = [
      ...JAVA_OPTS,
      '-cp',
      `${kafkaLibs()}/*`,
      'kafka.Kafka',
      path.join(this.dir, 'server.properties'),
    ];
    this.child = startService('kafka', 'java', args, this.logFile);
    await waitFor('Kafka to answer metadata requests', () => this.ping(), 90_000, this.logFile);
  }

  /** Graceful stop (SIGTERM). */
  async stop(): Promise<void> {
    if (this.child) await stopProcess(this.child, 'SIGTERM', 30_000);
    this.child = undefined;
  }

  async destroy(): Promise<void> {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private async ping(): Promise<true | undefined> {
    const admin = new Kafka({
      brokers: this.brokers,
      logLevel: logLevel.NOTHING,
      retry: { retries: 0 },
    }).admin();
    try {
      await admin.connect();
      await admin.describeCluster();
      return true;
    } finally {
      await admin.disconnect();
    }
  }
}

/** A KRaft cluster id: 16 random bytes, URL-safe base64 without padding. */
function clusterId(): string {
  for (;;) {
    const id = Buffer.from(randomUUID().replace(/-/g, ''), 'hex').toString('base64url');
    // kafka-storage would read an id starting with "-" as an option (about one run in 64).
    if (!id.startsWith('-')) return id;
  }
}
